//! A QUIC connection's side of its outbox: the dispatcher's snapshots and the writer
//! wakes go to the endpoint task's mailbox, at most one of each per connection.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arcane_quic_io::ConnKey;
use bytes::Bytes;
use tokio::sync::Notify;

use crate::net::outbox::{DirectSend, DirectSnapshots};

/// Work for the endpoint task from the dispatcher and the tick thread. Each names a
/// connection whose [`Link`] has something; a link has at most one of each kind in
/// the mailbox, so a stalled endpoint task leaves a bounded mailbox behind (two items
/// per connection), never a queue of stale snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Work {
    /// The link holds a snapshot to send as a datagram.
    Snapshot(ConnKey),
    /// The outbox has reliable frames, a close, or a snapshot too big for a datagram.
    Wake(ConnKey),
}

#[derive(Default)]
pub(super) struct Mailbox {
    pub(super) work: Mutex<Vec<Work>>,
    pub(super) notify: Notify,
}

impl Mailbox {
    pub(super) fn post(&self, work: Work) {
        let first = {
            let mut q = self.work.lock().unwrap_or_else(|e| e.into_inner());
            q.push(work);
            q.len() == 1
        };
        // Later posts find the endpoint task already woken and not yet drained.
        if first {
            self.notify.notify_one();
        }
    }

    pub(super) fn take(&self, into: &mut Vec<Work>) {
        std::mem::swap(
            into,
            &mut *self.work.lock().unwrap_or_else(|e| e.into_inner()),
        );
    }
}

/// A connection's side of its outbox: the dispatcher's snapshots and the writer
/// wakes go to the endpoint task's mailbox.
pub(super) struct Link {
    key: ConnKey,
    mail: Arc<Mailbox>,
    /// The largest snapshot a datagram carries now (after the sequence header).
    pub(super) max_len: AtomicUsize,
    /// The snapshot handed over and not yet taken by the endpoint task (one at most:
    /// the outbox keeps any newer one, and its stale count kicks a client whose
    /// snapshots stop leaving, as over WebSocket).
    snapshot: Mutex<Option<Bytes>>,
    /// A `Work::Wake` for this link is in the mailbox and not yet taken.
    wake_posted: AtomicBool,
}

impl Link {
    pub(super) fn new(key: ConnKey, mail: Arc<Mailbox>) -> Self {
        Link {
            key,
            mail,
            max_len: AtomicUsize::new(0),
            snapshot: Mutex::new(None),
            wake_posted: AtomicBool::new(false),
        }
    }

    /// The endpoint task takes the snapshot a `Work::Snapshot` announced.
    pub(super) fn take_snapshot(&self) -> Option<Bytes> {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The endpoint task takes a `Work::Wake`: later wakes post a new one. Cleared
    /// before the outbox is read, so a frame queued meanwhile is never left unwoken.
    pub(super) fn wake_taken(&self) {
        self.wake_posted.store(false, Ordering::Release);
    }
}

impl DirectSnapshots for Link {
    fn max_len(&self) -> usize {
        self.max_len.load(Ordering::Relaxed)
    }

    fn send(&self, snapshot: Bytes) -> DirectSend {
        {
            let mut slot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_some() {
                // The endpoint task has not sent the last one: the outbox keeps this
                // one (replacing it with the next) and counts the client as behind.
                return DirectSend::Refused(snapshot);
            }
            *slot = Some(snapshot);
        }
        self.mail.post(Work::Snapshot(self.key));
        DirectSend::Sent
    }

    fn wake_writer(&self) -> bool {
        if !self.wake_posted.swap(true, Ordering::AcqRel) {
            self.mail.post(Work::Wake(self.key));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::outbox::{MAX_STALE_SNAPSHOTS, Offer, Outbox};
    use arcane_protocol::KickReason;

    fn mail_len(mail: &Mailbox) -> usize {
        mail.work.lock().unwrap().len()
    }

    /// The endpoint task stalls (it takes no mail) while the tick goes on: the mailbox
    /// stays at one snapshot and one wake, the outbox keeps only the newest snapshot,
    /// and the client is closed as too slow, as a WebSocket client would be.
    #[test]
    fn a_stalled_endpoint_task_leaves_a_bounded_mailbox_and_a_slow_client_kick() {
        let mail = Arc::new(Mailbox::default());
        let key = ConnKey { slot: 3, id: 7 };
        let link = Arc::new(Link::new(key, mail.clone()));
        link.max_len.store(1200, Ordering::Relaxed);
        let outbox = Outbox::new();
        outbox.set_direct(link.clone());
        let snapshot = |tick: u8| Bytes::from(vec![tick; 16]);

        // Tick 1 goes to the link and is announced once.
        assert_eq!(outbox.offer_snapshot(snapshot(1)), Offer::Queued);
        outbox.dispatch();
        assert_eq!(*mail.work.lock().unwrap(), vec![Work::Snapshot(key)]);

        // The endpoint task does not run for a while.
        let mut offers = Vec::new();
        for tick in 2..=u8::try_from(MAX_STALE_SNAPSHOTS + 5).unwrap() {
            let offer = outbox.offer_snapshot(snapshot(tick));
            offers.push(offer);
            if offer == Offer::Queued {
                outbox.dispatch();
            }
            assert!(
                mail_len(&mail) <= 2,
                "tick {tick}: {} items",
                mail_len(&mail)
            );
        }
        assert!(
            offers.contains(&Offer::TooSlow),
            "never kicked as slow: {offers:?}"
        );

        // When it runs again it finds the oldest snapshot in the link and, behind the
        // wake, the newest in the outbox with the kick.
        let mut work = Vec::new();
        mail.take(&mut work);
        assert_eq!(work, vec![Work::Snapshot(key), Work::Wake(key)]);
        assert_eq!(link.take_snapshot(), Some(snapshot(1)));
        link.wake_taken();
        let batch = outbox.take();
        assert!(batch.snapshot.is_some_and(|s| s[0] > 2));
        assert_eq!(batch.close.map(|c| c.0), Some(KickReason::SlowClient));

        // Drained, the link takes the next snapshot straight away again.
        let fresh = Outbox::new();
        fresh.set_direct(link.clone());
        assert_eq!(fresh.offer_snapshot(snapshot(99)), Offer::Queued);
        fresh.dispatch();
        assert_eq!(*mail.work.lock().unwrap(), vec![Work::Snapshot(key)]);
        assert_eq!(link.take_snapshot(), Some(snapshot(99)));
    }
}
