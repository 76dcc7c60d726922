//! The per-connection outbox between the tick thread and a connection's writer task.
//!
//! Snapshots sit in a single slot: a newer one replaces an unsent older one (any loss
//! is harmless, the next delta is against an acked baseline). Reliable frames queue in
//! order up to a bound. Neither ever grows without limit: a client that cannot keep up
//! is closed with `SlowClient` instead.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arcane_protocol::KickReason;
use arcane_service::CancellationToken;
use bytes::Bytes;
use tokio::sync::Notify;

use super::io_pause::IoPause;

/// Reliable frames a connection may have queued before it counts as too slow.
pub const MAX_RELIABLE_QUEUED: usize = 512;

/// Consecutive ticks a snapshot may be replaced unsent before the client is too slow
/// (two seconds at 20 Hz).
pub const MAX_STALE_SNAPSHOTS: u32 = 40;

#[derive(Default)]
struct Pending {
    snapshot: Option<Bytes>,
    reliable: VecDeque<Bytes>,
    close: Option<(KickReason, String)>,
}

/// What the writer should send next.
#[derive(Debug, Default)]
pub struct Batch {
    pub reliable: Vec<Bytes>,
    pub snapshot: Option<Bytes>,
    pub close: Option<(KickReason, String)>,
}

/// Result of queueing a reliable frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reliable {
    Queued,
    /// The connection is already closing: dropped (its kick was counted then).
    Closing,
    /// The queue was full: this closed the connection as too slow (count the kick).
    TooSlow,
}

/// Result of offering a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// An older unsent snapshot was replaced.
    Replaced,
    /// The client has been behind for too long and is being closed.
    TooSlow,
}

/// A transport's way to send a snapshot from the [`Dispatcher`] without waking the
/// connection's task: QUIC datagrams (which need no ordering with anything else), or
/// a WebSocket frame written straight into the socket while the task is not writing
/// (`ws/socket.rs`). It saves a task wake (and its poll of every future the
/// connection waits on) per client per tick.
pub trait DirectSnapshots: Send + Sync {
    /// The largest snapshot it takes now; a bigger one waits for the writer task.
    fn max_len(&self) -> usize;
    /// Sends `snapshot` without blocking (a loss is harmless: see the module docs).
    fn send(&self, snapshot: Bytes) -> DirectSend;
    /// Wakes the connection's writer the transport's own way, when it does not wait
    /// on [`Outbox::ready`] (the QUIC endpoint task serves every connection and is
    /// told which one has work). False: the outbox wakes its waiter itself.
    fn wake_writer(&self) -> bool {
        false
    }
}

/// What became of a direct send.
#[derive(Debug)]
pub enum DirectSend {
    /// Sent, or dropped as harmless (a gone connection, a full datagram queue).
    Sent,
    /// Started: the writer task must be woken to finish it.
    Partial,
    /// Not sent now (the connection's task is writing, or the socket is full): the
    /// writer task sends it.
    Refused(Bytes),
}

#[derive(Default)]
pub struct Outbox {
    pending: Mutex<Pending>,
    stale: AtomicU32,
    notify: Notify,
    direct: OnceLock<Arc<dyn DirectSnapshots>>,
    /// The tick thread's poller serves the connection (`ws/poller.rs`): it writes
    /// every tick, and nothing wakes a writer.
    polled: AtomicBool,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A poisoned lock only means a writer panicked mid-take; the data is still valid.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts the newest snapshot in the slot. It does not wake the writer: on `Queued`
    /// the caller wakes it (the tick thread hands all of a tick's wakes to the
    /// [`Dispatcher`] at once); on `Replaced` a wake is already pending.
    pub fn offer_snapshot(&self, bytes: Bytes) -> Offer {
        let replaced = {
            let mut p = self.lock();
            if p.close.is_some() {
                return Offer::Queued;
            }
            p.snapshot.replace(bytes).is_some()
        };
        if !replaced {
            self.stale.store(0, Ordering::Relaxed);
            return Offer::Queued;
        }
        if self.stale.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_STALE_SNAPSHOTS
            && self.close(
                KickReason::SlowClient,
                "snapshots are not being drained; the connection is too slow",
            )
        {
            return Offer::TooSlow;
        }
        Offer::Replaced
    }

    /// Queues a reliable frame and wakes the writer; closes the connection when the
    /// queue is full.
    pub fn push_reliable(&self, bytes: Bytes) -> Reliable {
        let queued = self.enqueue_reliable(bytes);
        if queued == Reliable::Queued {
            self.wake();
        }
        queued
    }

    /// Like `push_reliable`, without waking the writer: the tick thread wakes a tick's
    /// writers together through the `Dispatcher`.
    pub fn enqueue_reliable(&self, bytes: Bytes) -> Reliable {
        let full = {
            let mut p = self.lock();
            if p.close.is_some() {
                return Reliable::Closing;
            }
            if p.reliable.len() >= MAX_RELIABLE_QUEUED {
                true
            } else {
                p.reliable.push_back(bytes);
                false
            }
        };
        if full {
            let now = self.close(
                KickReason::SlowClient,
                "reliable messages are not being drained; the connection is too slow",
            );
            return if now {
                Reliable::TooSlow
            } else {
                Reliable::Closing
            };
        }
        Reliable::Queued
    }

    /// Asks the writer to send a kick with `reason` and close. The first reason wins:
    /// true when this call closed the connection (count the kick then, and only then,
    /// so one kick is counted once).
    pub fn close(&self, reason: KickReason, detail: impl Into<String>) -> bool {
        let first = {
            let mut p = self.lock();
            let first = p.close.is_none();
            if first {
                p.close = Some((reason, detail.into()));
            }
            first
        };
        self.wake();
        first
    }

    /// Takes everything pending (reliable first, then the newest snapshot).
    pub fn take(&self) -> Batch {
        self.take_unless(false).unwrap_or_default()
    }

    /// What [`Outbox::take`] takes, unless a close is pending: then nothing is taken,
    /// and the connection's task sends it all, the kick last.
    pub fn take_open(&self) -> Option<Batch> {
        self.take_unless(true)
    }

    fn take_unless(&self, closing: bool) -> Option<Batch> {
        let mut p = self.lock();
        if closing && p.close.is_some() {
            return None;
        }
        let batch = Batch {
            reliable: p.reliable.drain(..).collect(),
            snapshot: p.snapshot.take(),
            close: p.close.clone(),
        };
        drop(p);
        if batch.snapshot.is_some() {
            self.stale.store(0, Ordering::Relaxed);
        }
        Some(batch)
    }

    /// Hands the connection to the tick thread's poller (`true`), or back to its task.
    pub fn set_polled(&self, polled: bool) {
        self.polled.store(polled, Ordering::Relaxed);
    }

    /// Whether the tick thread's poller writes this outbox (no writer to wake).
    pub fn is_polled(&self) -> bool {
        self.polled.load(Ordering::Relaxed)
    }

    /// Wakes the writer: through the transport when it takes the wakes itself (see
    /// [`DirectSnapshots::wake_writer`]), else whoever waits on [`Outbox::ready`];
    /// nobody while the poller serves the connection.
    pub fn wake(&self) {
        if self.is_polled() {
            return;
        }
        if self.direct.get().is_some_and(|d| d.wake_writer()) {
            return;
        }
        self.notify.notify_one();
    }

    /// Lets the dispatcher send snapshots through `direct` (the first one set stays).
    pub fn set_direct(&self, direct: Arc<dyn DirectSnapshots>) {
        let _ = self.direct.set(direct);
    }

    /// The dispatcher's turn at this outbox: a lone snapshot goes out through the
    /// direct sender when there is one and it fits; anything else (reliable frames, a
    /// close, a snapshot too big) wakes the writer, which sends it all in order.
    pub fn dispatch(&self) {
        if let Some(direct) = self.direct.get() {
            let max = direct.max_len();
            let taken = {
                let mut p = self.lock();
                let lone = p.reliable.is_empty() && p.close.is_none();
                if lone && p.snapshot.as_ref().is_some_and(|s| s.len() <= max) {
                    p.snapshot.take()
                } else {
                    None
                }
            };
            if let Some(snapshot) = taken {
                match direct.send(snapshot) {
                    DirectSend::Sent => {
                        self.stale.store(0, Ordering::Relaxed);
                        return;
                    }
                    DirectSend::Partial => self.stale.store(0, Ordering::Relaxed),
                    DirectSend::Refused(snapshot) => {
                        // Back to the slot, unless a newer one arrived meanwhile.
                        let mut p = self.lock();
                        if p.snapshot.is_none() && p.close.is_none() {
                            p.snapshot = Some(snapshot);
                        }
                    }
                }
            }
        }
        self.wake();
    }

    /// Waits until something is pending.
    pub async fn ready(&self) {
        self.notify.notified().await;
    }
}

/// Carries a tick's writer wakes from the tick thread to the I/O runtime in one
/// cross-thread wake; the dispatcher task then wakes each connection locally, which
/// is cheaper than a thousand wakes from a foreign thread.
#[derive(Default)]
pub struct Dispatcher {
    queue: Mutex<Vec<Arc<Outbox>>>,
    notify: Notify,
    /// The I/O threads' idle pause, cut short by every submit.
    pause: Arc<IoPause>,
}

impl Dispatcher {
    /// A dispatcher whose submits cut `pause` short (the one the I/O runtime's
    /// threads pause on).
    pub fn new(pause: Arc<IoPause>) -> Self {
        Dispatcher {
            pause,
            ..Dispatcher::default()
        }
    }

    /// Queues `outboxes` for waking (draining the vector) and wakes the dispatcher.
    pub fn submit(&self, outboxes: &mut Vec<Arc<Outbox>>) {
        if outboxes.is_empty() {
            return;
        }
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(outboxes);
        self.notify.notify_one();
        self.pause.cut_short();
    }

    /// The dispatcher task: runs until `shutdown` is cancelled.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = shutdown.cancelled() => return,
            }
            std::mem::swap(
                &mut batch,
                &mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()),
            );
            for outbox in batch.drain(..) {
                outbox.dispatch();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    #[test]
    fn newer_snapshot_replaces_unsent_one() {
        let o = Outbox::new();
        assert_eq!(o.offer_snapshot(Bytes::from_static(b"1")), Offer::Queued);
        assert_eq!(o.offer_snapshot(Bytes::from_static(b"2")), Offer::Replaced);
        let b = o.take();
        assert_eq!(b.snapshot.as_deref(), Some(&b"2"[..]));
        assert!(b.close.is_none());
    }

    #[test]
    fn a_client_that_never_drains_is_closed_as_slow() {
        let o = Outbox::new();
        let mut last = Offer::Queued;
        for _ in 0..=MAX_STALE_SNAPSHOTS {
            last = o.offer_snapshot(Bytes::from_static(b"s"));
        }
        assert_eq!(last, Offer::TooSlow);
        assert_eq!(o.take().close.map(|c| c.0), Some(KickReason::SlowClient));
    }

    /// Records what a direct sender was given.
    struct Recorder {
        max: usize,
        sent: Mutex<Vec<Bytes>>,
    }

    impl DirectSnapshots for Recorder {
        fn max_len(&self) -> usize {
            self.max
        }
        fn send(&self, snapshot: Bytes) -> DirectSend {
            self.sent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(snapshot);
            DirectSend::Sent
        }
    }

    fn recorder(max: usize) -> Arc<Recorder> {
        Arc::new(Recorder {
            max,
            sent: Mutex::new(Vec::new()),
        })
    }

    #[test]
    fn a_lone_snapshot_goes_direct_and_anything_else_to_the_writer() {
        let o = Outbox::new();
        let direct = recorder(4);
        o.set_direct(direct.clone());
        // A lone snapshot that fits: sent directly, nothing left for the writer.
        o.offer_snapshot(Bytes::from_static(b"snap"));
        o.dispatch();
        assert_eq!(
            direct.sent.lock().unwrap_or_else(|e| e.into_inner()).len(),
            1
        );
        assert!(o.take().snapshot.is_none());
        // Too big for the direct sender: the writer gets it.
        o.offer_snapshot(Bytes::from_static(b"bigger"));
        o.dispatch();
        assert_eq!(o.take().snapshot.as_deref(), Some(&b"bigger"[..]));
        // With a reliable frame queued, the writer sends both, in order.
        o.offer_snapshot(Bytes::from_static(b"s"));
        assert_eq!(
            o.enqueue_reliable(Bytes::from_static(b"r")),
            Reliable::Queued
        );
        o.dispatch();
        let b = o.take();
        assert_eq!((b.reliable.len(), b.snapshot.is_some()), (1, true));
        assert_eq!(
            direct.sent.lock().unwrap_or_else(|e| e.into_inner()).len(),
            1
        );
    }

    /// A direct sender that answers with a fixed outcome.
    struct Answer(fn(Bytes) -> DirectSend);

    impl DirectSnapshots for Answer {
        fn max_len(&self) -> usize {
            usize::MAX
        }
        fn send(&self, snapshot: Bytes) -> DirectSend {
            (self.0)(snapshot)
        }
    }

    /// Whether the writer task has a wake pending.
    fn woken(o: &Outbox) -> bool {
        let ready = std::pin::pin!(o.ready());
        let waker = std::task::Waker::noop();
        ready
            .poll(&mut std::task::Context::from_waker(waker))
            .is_ready()
    }

    #[test]
    fn a_refused_direct_send_leaves_the_snapshot_to_the_writer() {
        let o = Outbox::new();
        o.set_direct(Arc::new(Answer(DirectSend::Refused)));
        o.offer_snapshot(Bytes::from_static(b"s"));
        o.dispatch();
        assert!(woken(&o), "the writer is woken to send it");
        assert_eq!(o.take().snapshot.as_deref(), Some(&b"s"[..]));
        // Refusals do not count as drained: a socket that stays full ends as slow.
        let mut last = Offer::Queued;
        for _ in 0..=MAX_STALE_SNAPSHOTS {
            last = o.offer_snapshot(Bytes::from_static(b"s"));
            o.dispatch();
        }
        assert_eq!(last, Offer::TooSlow);
    }

    #[test]
    fn a_partial_direct_send_wakes_the_writer_to_finish_it() {
        let o = Outbox::new();
        o.set_direct(Arc::new(Answer(|_| DirectSend::Partial)));
        o.offer_snapshot(Bytes::from_static(b"s"));
        o.dispatch();
        assert!(woken(&o));
        assert!(o.take().snapshot.is_none(), "the frame is the socket's now");
        // A sent one needs no wake.
        let o = Outbox::new();
        o.set_direct(Arc::new(Answer(|_| DirectSend::Sent)));
        o.offer_snapshot(Bytes::from_static(b"s"));
        o.dispatch();
        assert!(!woken(&o));
    }

    /// A direct sender that takes the writer wakes itself, and counts them.
    #[derive(Default)]
    struct TakesWakes(AtomicU32);

    impl DirectSnapshots for TakesWakes {
        fn max_len(&self) -> usize {
            0
        }
        fn send(&self, snapshot: Bytes) -> DirectSend {
            DirectSend::Refused(snapshot)
        }
        fn wake_writer(&self) -> bool {
            self.0.fetch_add(1, Ordering::Relaxed);
            true
        }
    }

    #[test]
    fn a_transport_that_takes_writer_wakes_gets_every_one() {
        let o = Outbox::new();
        let wakes = Arc::new(TakesWakes::default());
        o.set_direct(wakes.clone());
        assert_eq!(o.push_reliable(Bytes::from_static(b"r")), Reliable::Queued);
        // Too big for a datagram: the writer has to send it.
        o.offer_snapshot(Bytes::from_static(b"s"));
        o.dispatch();
        o.wake();
        assert!(o.close(KickReason::ServerShutdown, "bye"));
        assert_eq!(wakes.0.load(Ordering::Relaxed), 4);
        assert!(!woken(&o), "no one waits on the outbox itself");
        let b = o.take();
        assert_eq!((b.reliable.len(), b.snapshot.is_some()), (1, true));
    }

    #[test]
    fn a_direct_send_counts_as_drained() {
        let o = Outbox::new();
        o.set_direct(recorder(64));
        for _ in 0..MAX_STALE_SNAPSHOTS * 2 {
            assert_eq!(o.offer_snapshot(Bytes::from_static(b"s")), Offer::Queued);
            o.dispatch();
        }
    }

    #[test]
    fn reliable_queue_is_bounded_and_ordered() {
        let o = Outbox::new();
        for i in 0..MAX_RELIABLE_QUEUED {
            assert_eq!(
                o.push_reliable(Bytes::from(vec![i as u8])),
                Reliable::Queued
            );
        }
        assert_eq!(o.push_reliable(Bytes::from_static(b"x")), Reliable::TooSlow);
        // Closed once: later overflows and closes are not new kicks.
        assert_eq!(o.push_reliable(Bytes::from_static(b"y")), Reliable::Closing);
        assert!(!o.close(KickReason::Timeout, "again"));
        let b = o.take();
        assert_eq!(b.reliable.len(), MAX_RELIABLE_QUEUED);
        assert_eq!(b.reliable[1][0], 1);
        assert_eq!(b.close.map(|c| c.0), Some(KickReason::SlowClient));
    }
}
