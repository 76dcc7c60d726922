//! WebSocket bots run on one thread, as QUIC bots run inside their endpoint's task:
//! the [`WsPoller`] owns every joined bot's socket in an epoll set, reads what each
//! ready socket has, hands each message to the bot's [`Handler`] and writes what it
//! answers, and fires the bots' due inputs from one timer heap (waiting in
//! `epoll_wait` until the earliest), also between sockets while a tick's snapshots
//! are still being read.
//!
//! Why: with a task per bot, each snapshot wakes a task through the runtime (its
//! waker, its readiness, its timer), and an input that comes due while a tick's burst
//! of snapshots is being read waits behind all of them in the run queue. At 3,000 bots
//! on one core that made the inputs 7 ms late at the median and the swarm, not the
//! zone, set the latency (`docs/notes/2026-12-05-punctual-swarm.md`).
//!
//! What stays with the bot's task: connecting, the upgrade and the Hello (they await
//! the network), and what follows a stop (a redirect, a new login). A stop closes the
//! connection with a close frame, as the task's `close` did.

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arcane_quic_io::Timers;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketContext};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::ws_incoming;
use crate::frame::{Flow, Handler, Incoming, Outbox};

/// Sockets read between two looks at the timer heap.
const DUE_EVERY: usize = 16;
/// Ready sockets taken from the epoll set per wait.
const EVENTS: usize = 256;
/// The epoll data of the poller's own wake-up (a new bot, or the last handle gone).
const WAKE: u64 = u64::MAX;

/// A bot handed to the poller, and where to give it back.
struct Job {
    stream: TcpStream,
    ws: WebSocketContext,
    handler: Box<dyn Handler>,
    done: oneshot::Sender<Box<dyn Handler>>,
}

/// The thread that runs WebSocket bots. Cloning shares it; it ends once every
/// handle is gone and every bot it runs has stopped.
#[derive(Clone)]
pub struct WsPoller {
    shared: Arc<Shared>,
}

/// What the handles share: the way to the thread.
struct Shared {
    /// Taken when the last handle goes, before the thread is woken to see it gone.
    jobs: Option<std_mpsc::Sender<Job>>,
    wake: Arc<EventFd>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        drop(self.jobs.take());
        let _ = self.wake.write(1);
    }
}

impl WsPoller {
    /// Starts the thread.
    pub fn new() -> anyhow::Result<WsPoller> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).context("epoll_create")?;
        let wake = Arc::new(
            EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
                .context("eventfd")?,
        );
        epoll
            .add(&*wake, EpollEvent::new(EpollFlags::EPOLLIN, WAKE))
            .context("epoll_ctl")?;
        let (jobs, rx) = std_mpsc::channel();
        let thread_wake = wake.clone();
        std::thread::Builder::new()
            .name("ws-poller".into())
            .spawn(move || run(&epoll, &thread_wake, &rx))
            .context("cannot start the WebSocket poller")?;
        Ok(WsPoller {
            shared: Arc::new(Shared {
                jobs: Some(jobs),
                wake,
            }),
        })
    }

    /// Runs `handler` on the connection `ws` until it stops ([`Flow::Stop`]: the run's
    /// end, a redirect, the close) or the connection fails (the handler is then told
    /// [`Incoming::Closed`]), then closes the connection and gives the handler back.
    pub async fn drive<H: Handler>(
        &self,
        ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
        handler: H,
    ) -> anyhow::Result<H> {
        let config = *ws.get_config();
        // tungstenite's buffered reader is left behind: it must hold nothing, so the
        // connection is handed over before anything was read past the upgrade (a bot
        // hands it over once its Hello is written, and a zone answers nothing before
        // the Hello).
        let MaybeTlsStream::Plain(tcp) = ws.into_inner() else {
            anyhow::bail!("only plain ws:// connections can be polled");
        };
        let stream = tcp.into_std().context("cannot take the socket")?;
        let (done, back) = oneshot::channel();
        let job = Job {
            stream,
            ws: WebSocketContext::new(Role::Client, Some(config)),
            handler: Box::new(handler),
            done,
        };
        let jobs = self.shared.jobs.as_ref();
        jobs.and_then(|j| j.send(job).ok())
            .context("the WebSocket poller has stopped")?;
        let _ = self.shared.wake.write(1);
        let handler: Box<dyn std::any::Any> = back
            .await
            .map_err(|_| anyhow::anyhow!("the WebSocket poller has stopped"))?;
        handler
            .downcast::<H>()
            .map(|h| *h)
            .map_err(|_| anyhow::anyhow!("the WebSocket poller gave back another handler"))
    }
}

/// A bot the poller runs.
struct Polled {
    id: u64,
    stream: TcpStream,
    ws: WebSocketContext,
    handler: Box<dyn Handler>,
    done: oneshot::Sender<Box<dyn Handler>>,
    /// The earliest time this bot has in the timer heap.
    armed: Option<Instant>,
}

/// The poller's state: the bots by slot (the epoll data), free slots, their timers.
#[derive(Default)]
struct Bots {
    slots: Vec<Option<Polled>>,
    free: Vec<usize>,
    timers: Timers<(usize, u64)>,
    next_id: u64,
    outbox: Outbox,
    live: usize,
}

fn run(ep: &Epoll, wake: &EventFd, jobs: &std_mpsc::Receiver<Job>) {
    let mut bots = Bots::default();
    let mut events = vec![EpollEvent::empty(); EVENTS];
    let mut open = true;
    while open || bots.live > 0 {
        // Until the earliest due time, rounded up to the millisecond (as tokio's
        // timers are): a wait that ends early would spin.
        let timeout = bots.timers.next().map(|t| {
            let left = t.saturating_duration_since(Instant::now());
            let ms = left.as_micros().div_ceil(1000);
            EpollTimeout::try_from(Duration::from_millis(ms.min(60_000) as u64))
                .unwrap_or(EpollTimeout::ZERO)
        });
        let n = match ep.wait(&mut events, timeout.unwrap_or(EpollTimeout::NONE)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => {
                tracing::error!("the WebSocket poller's epoll_wait failed: {e}");
                break;
            }
        };
        for (k, e) in events[..n].iter().enumerate() {
            if e.data() == WAKE {
                let _ = wake.read();
                loop {
                    match jobs.try_recv() {
                        Ok(job) => bots.add(ep, job),
                        Err(std_mpsc::TryRecvError::Empty) => break,
                        Err(std_mpsc::TryRecvError::Disconnected) => {
                            open = false;
                            break;
                        }
                    }
                }
            } else {
                bots.read(ep, e.data() as usize);
            }
            if k % DUE_EVERY == DUE_EVERY - 1 {
                bots.serve_due(ep);
            }
        }
        bots.serve_due(ep);
    }
    // Whatever is left goes back to its bot as closed.
    for slot in 0..bots.slots.len() {
        if bots.slots[slot].is_some() {
            bots.stop(ep, slot, Some(Incoming::Closed(None)));
        }
    }
}

impl Bots {
    fn add(&mut self, ep: &Epoll, job: Job) {
        let Job {
            stream,
            ws,
            mut handler,
            done,
        } = job;
        let slot = self.free.pop().unwrap_or(self.slots.len());
        if slot == self.slots.len() {
            self.slots.push(None);
        }
        let registered = stream.set_nonblocking(true).is_ok()
            && ep
                .add(&stream, EpollEvent::new(EpollFlags::EPOLLIN, slot as u64))
                .is_ok();
        if !registered {
            handler.on_incoming(
                Incoming::Closed(Some("cannot poll the socket".into())),
                &mut self.outbox,
            );
            self.outbox.frames.clear();
            let _ = done.send(handler);
            self.free.push(slot);
            return;
        }
        self.next_id += 1;
        self.slots[slot] = Some(Polled {
            id: self.next_id,
            stream,
            ws,
            handler,
            done,
            armed: None,
        });
        self.live += 1;
        self.rearm(slot);
    }

    /// Puts the bot's next wake time in the heap.
    fn rearm(&mut self, slot: usize) {
        let Some(p) = self.slots[slot].as_mut() else {
            return;
        };
        let at = p.handler.wake_at();
        self.timers.arm((slot, p.id), &mut p.armed, at);
    }

    /// Reads everything the bot in `slot` has, handing each message to its handler.
    fn read(&mut self, ep: &Epoll, slot: usize) {
        let Some(p) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        loop {
            let read = p.ws.read(&mut p.stream);
            if matches!(&read, Err(e) if would_block(e)) {
                break;
            }
            let Some(incoming) = ws_incoming(read) else {
                continue;
            };
            if let Incoming::Closed(_) = incoming {
                return self.stop(ep, slot, Some(incoming));
            }
            if p.handler.on_incoming(incoming, &mut self.outbox) == Flow::Stop
                || !send(p, &mut self.outbox)
            {
                return self.stop(ep, slot, None);
            }
        }
        // A ping's pong, or an input the socket took only in part.
        if let Err(e) = p.ws.flush(&mut p.stream)
            && !would_block(&e)
        {
            return self.stop(
                ep,
                slot,
                Some(Incoming::Closed(Some(format!("error: {e}")))),
            );
        }
        self.rearm(slot);
    }

    /// Wakes every bot whose time has come.
    fn serve_due(&mut self, ep: &Epoll) {
        let now = Instant::now();
        while let Some((at, (slot, id))) = self.timers.pop_due(now) {
            let Some(p) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if p.id != id || p.armed != Some(at) {
                continue;
            }
            p.armed = None;
            let due = p.handler.wake_at().is_some_and(|t| t <= now);
            if due
                && (p.handler.on_wake(now, &mut self.outbox) == Flow::Stop
                    || !send(p, &mut self.outbox))
            {
                self.stop(ep, slot, None);
                continue;
            }
            self.rearm(slot);
        }
        let live = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, p)| p.as_ref().and_then(|p| Some((p.armed?, (slot, p.id)))));
        self.timers.compact(4 * self.slots.len() + 4096, live);
    }

    /// Ends a bot's run here: tells its handler `closed` (a failed connection), closes
    /// the connection (a close frame, when the socket takes it) and gives the handler
    /// back.
    fn stop(&mut self, ep: &Epoll, slot: usize, closed: Option<Incoming>) {
        let Some(mut p) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.free.push(slot);
        self.live -= 1;
        let _ = ep.delete(&p.stream);
        if let Some(closed) = closed {
            p.handler.on_incoming(closed, &mut self.outbox);
            self.outbox.frames.clear();
        } else {
            // Best effort: a socket that takes no more goes without its close frame.
            let _ = p.ws.close(&mut p.stream, None);
        }
        let _ = p.done.send(p.handler);
    }
}

/// Writes what the handler queued; false when the connection failed.
fn send(p: &mut Polled, outbox: &mut Outbox) -> bool {
    let mut failed = false;
    for (frame, _) in outbox.frames.drain(..) {
        match p.ws.write(&mut p.stream, Message::Binary(frame)) {
            // Or kept in tungstenite's write buffer; the next flush sends it.
            Ok(()) => {}
            Err(e) if would_block(&e) => {}
            Err(_) => failed = true,
        }
    }
    if failed {
        return false;
    }
    match p.ws.flush(&mut p.stream) {
        Ok(()) => true,
        Err(e) => would_block(&e),
    }
}

fn would_block(e: &WsError) -> bool {
    matches!(e, WsError::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arcane_protocol::codec::{decode_client_frame, encode_server_message};
    use arcane_protocol::{ClientMessage, ServerMessage};
    use futures_util::{SinkExt, StreamExt};

    /// Records what it is told; pings the server on each wake, `pings` times, 20 ms
    /// apart.
    #[derive(Default)]
    struct Recorder {
        nonces: Vec<u64>,
        malformed: usize,
        closed: Option<Option<String>>,
        wake: Option<Instant>,
        pings: u64,
        woke_late_by: Vec<Duration>,
    }

    impl Handler for Recorder {
        fn on_incoming(&mut self, incoming: Incoming, _out: &mut Outbox) -> Flow {
            match incoming {
                Incoming::Message(ServerMessage::Pong { nonce, .. }, _) => self.nonces.push(nonce),
                Incoming::Message(..) => {}
                Incoming::Malformed(_) => self.malformed += 1,
                Incoming::Closed(why) => {
                    self.closed = Some(why);
                    return Flow::Stop;
                }
            }
            Flow::Continue
        }

        fn wake_at(&self) -> Option<Instant> {
            self.wake
        }

        fn on_wake(&mut self, now: Instant, out: &mut Outbox) -> Flow {
            if let Some(due) = self.wake {
                self.woke_late_by.push(now.saturating_duration_since(due));
            }
            self.pings -= 1;
            out.send(&[ClientMessage::Ping { nonce: self.pings }])
                .unwrap();
            self.wake = (self.pings > 0).then(|| now + Duration::from_millis(20));
            Flow::Continue
        }
    }

    /// A zone stand-in: sends two pongs and a frame that does not decode, reads
    /// `expect` client frames (their ping nonces go to the channel), then closes.
    async fn server(listener: tokio::net::TcpListener, expect: usize) -> Vec<u64> {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        // As a zone sends nothing before the client's Hello.
        assert!(matches!(ws.next().await, Some(Ok(Message::Binary(_)))));
        for nonce in [7, 8] {
            let mut buf = Vec::new();
            encode_server_message(&ServerMessage::Pong { nonce, tick: 1 }, &mut buf).unwrap();
            ws.send(Message::Binary(buf.into())).await.unwrap();
        }
        ws.send(Message::Binary(vec![0xff; 3].into()))
            .await
            .unwrap();
        let mut got = Vec::new();
        while got.len() < expect {
            let Some(Ok(Message::Binary(b))) = ws.next().await else {
                panic!("the client's frames");
            };
            for m in decode_client_frame(&b).unwrap() {
                if let ClientMessage::Ping { nonce } = m {
                    got.push(nonce);
                }
            }
        }
        ws.close(None).await.unwrap();
        got
    }

    /// Connects and sends a first frame (the Hello's place), as a bot does before
    /// it hands the connection over.
    async fn connect(
        addr: std::net::SocketAddr,
    ) -> WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>> {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/");
        let (mut ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
            .await
            .unwrap();
        ws.send(Message::Binary(vec![1].into())).await.unwrap();
        ws
    }

    #[tokio::test]
    async fn a_polled_bot_reads_its_messages_sends_on_its_wakes_and_comes_back_on_the_close() {
        let poller = WsPoller::new().unwrap();
        let mut servers = Vec::new();
        let mut bots = Vec::new();
        // Several bots at once, so their timers and sockets share the thread.
        for _ in 0..3 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            servers.push(tokio::spawn(server(listener, 3)));
            let ws = connect(addr).await;
            let bot = Recorder {
                wake: Some(Instant::now() + Duration::from_millis(10)),
                pings: 3,
                ..Recorder::default()
            };
            let poller = poller.clone();
            bots.push(tokio::spawn(async move { poller.drive(ws, bot).await }));
        }
        for (server, bot) in servers.into_iter().zip(bots) {
            let sent = tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                sent,
                vec![2, 1, 0],
                "each wake's frame reached the server, in order"
            );
            let bot = tokio::time::timeout(Duration::from_secs(10), bot)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(bot.nonces, vec![7, 8], "every message, in order");
            assert_eq!(bot.malformed, 1, "the frame that did not decode");
            assert!(bot.closed.is_some(), "the server's close ends the run");
            assert_eq!(bot.woke_late_by.len(), 3);
        }
    }

    #[tokio::test]
    async fn a_bot_that_stops_gets_its_connection_closed_and_the_poller_ends_when_unused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            assert!(matches!(ws.next().await, Some(Ok(Message::Binary(_)))));
            let mut buf = Vec::new();
            encode_server_message(&ServerMessage::Pong { nonce: 1, tick: 1 }, &mut buf).unwrap();
            ws.send(Message::Binary(buf.into())).await.unwrap();
            // What the client sends once its handler stopped: the close frame.
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(_))) | None => return true,
                    Some(Ok(_)) => continue,
                    Some(Err(_)) => return false,
                }
            }
        });
        let ws = connect(addr).await;
        let poller = WsPoller::new().unwrap();
        let wake = Arc::downgrade(&poller.shared.wake);

        /// Stops at its first message.
        struct StopAtOnce(bool);
        impl Handler for StopAtOnce {
            fn on_incoming(&mut self, _: Incoming, _: &mut Outbox) -> Flow {
                self.0 = true;
                Flow::Stop
            }
            fn wake_at(&self) -> Option<Instant> {
                None
            }
            fn on_wake(&mut self, _: Instant, _: &mut Outbox) -> Flow {
                Flow::Continue
            }
        }
        let bot =
            tokio::time::timeout(Duration::from_secs(10), poller.drive(ws, StopAtOnce(false)))
                .await
                .unwrap()
                .unwrap();
        assert!(bot.0);
        let closed = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap();
        assert!(closed, "the client closed with a close frame");
        // The last handle gone, the thread ends and lets go of its eventfd.
        drop(poller);
        let deadline = Instant::now() + Duration::from_secs(10);
        while wake.strong_count() > 0 {
            assert!(Instant::now() < deadline, "the poller thread did not end");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
