//! Plain-TCP WebSocket connections served by the tick thread, once a tick: before
//! the tick, every connection's socket is read with one non-blocking `recvmsg` (its
//! inputs go to the inbox the tick then drains); after it, each connection's frames
//! (reliable ones, the snapshot, a ping now and then) are written with one `write`.
//!
//! This is the transport floor's own pattern (`benches/examples/tcp_floor.rs`): no
//! epoll, no task wake per input, no runtime. A task per connection served it
//! before (and still serves TLS connections): an input frame woke the task through
//! the runtime, and that wake cost about as much as the zone's whole tick per
//! client (docs/notes/2026-12-05-polled-websockets.md).
//!
//! Only the steady state is served here. A connection arrives after its task did
//! the handshake and the join ([`Handoff`]), and goes back to its task
//! ([`Returned`]) when it ends: the close frame, the kick and the wait for the
//! peer's close take time the tick thread does not have.
//!
//! Inputs keep their arrival time: the socket reports when the kernel received the
//! newest bytes (`SO_TIMESTAMPNS`), which is what input waits (and so the clients'
//! send schedule) are measured from.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::WebSocketContext;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::conn::{Stamped, would_block};
use super::{PING_INTERVAL, WRITE_TIMEOUT, describe, shutting_down, stalled, timed_out};
use crate::net::session::{Refusal, Session, SessionContext};

/// Most messages read from one connection in one tick: a client over it is slowed by
/// TCP rather than served at the others' expense (its frame rate limit drops the
/// excess anyway).
pub const MAX_MESSAGES_PER_TICK: usize = 64;

/// A connection handed to the poller after its handshake and join.
pub struct Handoff {
    /// The socket, out of the async runtime (non-blocking).
    pub stream: std::net::TcpStream,
    pub ws: WebSocketContext,
    pub session: Session,
    /// Where the connection goes back when it ends.
    pub back: oneshot::Sender<Returned>,
}

/// A connection given back to its task.
pub struct Returned {
    pub stream: std::net::TcpStream,
    pub ws: WebSocketContext,
    pub session: Session,
    pub end: End,
}

/// Why a polled connection ended.
#[derive(Debug, PartialEq)]
pub enum End {
    /// The peer closed: a close frame (its answer is queued), the end of the stream,
    /// or a broken socket.
    Closed,
    /// The connection is to be closed with this kick, unless its outbox already holds
    /// one (the tick kicked or moved the player, or the zone stops).
    Close(Refusal),
}

/// How the tick thread reaches the poller: sessions send their connections here.
pub type PollerLink = Sender<Handoff>;

struct Polled {
    stream: std::net::TcpStream,
    ws: WebSocketContext,
    session: Session,
    back: oneshot::Sender<Returned>,
    last_heard: Instant,
    last_ping: Instant,
    /// Since when written frames wait for room in the socket.
    blocked_since: Option<Instant>,
    end: Option<End>,
}

/// The tick thread's plain-TCP WebSocket connections.
pub struct Poller {
    incoming: Receiver<Handoff>,
    conns: Vec<Polled>,
    ctx: Arc<SessionContext>,
    heartbeat: Duration,
    ping_every: Duration,
    cmsg: Vec<u8>,
}

impl Poller {
    pub fn new(ctx: Arc<SessionContext>, heartbeat: Duration) -> (Poller, PollerLink) {
        let (link, incoming) = std::sync::mpsc::channel();
        let poller = Poller {
            incoming,
            conns: Vec::new(),
            ctx,
            heartbeat,
            ping_every: PING_INTERVAL.min(heartbeat / 2),
            cmsg: Stamped::cmsg_buffer(),
        };
        (poller, link)
    }

    /// Takes the connections handed over since the last pass, then reads every
    /// connection's socket once: its frames go to the session (inputs to the inbox).
    pub fn read(&mut self) {
        let now = Instant::now();
        while let Ok(h) = self.incoming.try_recv() {
            self.admit(h, now);
        }
        let system_now = SystemTime::now();
        let ctx = &*self.ctx;
        for c in &mut self.conns {
            let mut io = Stamped::new(&c.stream, &mut self.cmsg);
            let mut end = None;
            for _ in 0..MAX_MESSAGES_PER_TICK {
                let message = match c.ws.read(&mut io) {
                    Ok(m) => m,
                    Err(e) if would_block(&e) => break,
                    Err(e) => {
                        end = Some(ended_by(&e));
                        break;
                    }
                };
                let outcome = match message {
                    Message::Binary(b) => {
                        let m = &ctx.metrics.ws;
                        m.bytes_received.inc_by(b.len() as u64);
                        m.messages_received.inc();
                        let at = io.received_at(now, system_now);
                        ctx.on_frame_at(&mut c.session, &b, at)
                    }
                    Message::Text(_) => ctx.on_malformed(&mut c.session),
                    Message::Close(_) => {
                        end = Some(End::Closed);
                        break;
                    }
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
                };
                if let Err(refusal) = outcome {
                    end = Some(End::Close(refusal));
                    break;
                }
            }
            if io.bytes_read > 0 {
                c.last_heard = now;
            }
            if end.is_some() {
                c.end = end;
            }
        }
        self.release();
    }

    /// Writes what each connection's outbox holds (reliable frames, then the newest
    /// snapshot) and a ping when one is due, with one `write` per connection. A
    /// connection whose outbox holds a close, whose peer went quiet or whose socket
    /// stayed full goes back to its task.
    pub fn write(&mut self) {
        let now = Instant::now();
        let ctx = &*self.ctx;
        for c in &mut self.conns {
            if c.end.is_none() {
                c.end = c.write(ctx, now, self.heartbeat, self.ping_every, &mut self.cmsg);
            }
        }
        self.release();
    }

    /// The zone stops: every connection goes back to its task, which sends the kick
    /// its outbox holds (the zone is shutting down) and closes.
    pub fn finish(mut self) {
        let now = Instant::now();
        while let Ok(h) = self.incoming.try_recv() {
            self.admit(h, now);
        }
        for c in &mut self.conns {
            c.end.get_or_insert_with(|| End::Close(shutting_down()));
        }
        self.release();
    }

    fn admit(&mut self, h: Handoff, now: Instant) {
        if let Err(e) = Stamped::enable(&h.stream) {
            // Inputs then count as received when read: their waits read short.
            tracing::debug!("no receive timestamps on a connection: {e}");
        }
        h.session.outbox.set_polled(true);
        self.conns.push(Polled {
            stream: h.stream,
            ws: h.ws,
            session: h.session,
            back: h.back,
            last_heard: now,
            last_ping: now,
            blocked_since: None,
            end: None,
        });
    }

    /// Gives the connections that ended back to their tasks.
    fn release(&mut self) {
        let mut i = 0;
        while i < self.conns.len() {
            if self.conns[i].end.is_none() {
                i += 1;
                continue;
            }
            let c = self.conns.swap_remove(i);
            c.session.outbox.set_polled(false);
            let returned = Returned {
                stream: c.stream,
                ws: c.ws,
                session: c.session,
                end: c.end.unwrap_or(End::Closed),
            };
            // A task that is gone (the runtime stops) leaves the socket to be closed.
            let _ = c.back.send(returned);
        }
    }
}

/// How a read error ends a connection: a refusal for what the client sent wrong,
/// a plain close for a peer that is gone.
fn ended_by(e: &WsError) -> End {
    match e {
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => End::Closed,
        e => describe(e).map_or(End::Closed, End::Close),
    }
}

impl Polled {
    fn write(
        &mut self,
        ctx: &SessionContext,
        now: Instant,
        heartbeat: Duration,
        ping_every: Duration,
        cmsg: &mut [u8],
    ) -> Option<End> {
        if now.duration_since(self.last_heard) > heartbeat {
            return Some(End::Close(timed_out()));
        }
        let mut io = Stamped::new(&self.stream, cmsg);
        if let Some(since) = self.blocked_since {
            // What an earlier pass could not write goes first. Meanwhile the outbox
            // keeps only the newest snapshot and closes a client that is behind for
            // too long (`MAX_STALE_SNAPSHOTS`).
            match self.ws.flush(&mut io) {
                Ok(()) => self.blocked_since = None,
                Err(e) if would_block(&e) => {
                    let late = now.duration_since(since) > WRITE_TIMEOUT;
                    return late.then(|| End::Close(stalled()));
                }
                Err(_) => return Some(End::Closed),
            }
        }
        let outbox = &self.session.outbox;
        let Some(batch) = outbox.take_open() else {
            // A close is pending (a kick, a transfer, the zone stopping): the task
            // sends it, and the outbox's reason wins over this fallback.
            return Some(End::Close(shutting_down()));
        };
        let mut sent = 0u64;
        let mut frames = 0u64;
        if let Some(s) = &batch.snapshot {
            ctx.metrics.snapshot_size.observe(s.len() as f64);
        }
        let ping = (now.duration_since(self.last_ping) >= ping_every).then(|| {
            self.last_ping = now;
            Message::Ping(Bytes::new())
        });
        let messages = batch.reliable.into_iter().chain(batch.snapshot).map(|b| {
            sent += b.len() as u64;
            frames += 1;
            Message::Binary(b)
        });
        let mut wrote = false;
        let mut end = None;
        for m in messages.chain(ping) {
            wrote = true;
            match self.ws.write(&mut io, m) {
                // Buffered; the flush below writes it.
                Ok(()) => {}
                Err(e) if would_block(&e) => {}
                Err(WsError::WriteBufferFull(_)) => {
                    end = Some(End::Close(stalled()));
                    break;
                }
                Err(_) => {
                    end = Some(End::Closed);
                    break;
                }
            }
        }
        let m = &ctx.metrics.ws;
        m.bytes_sent.inc_by(sent);
        m.messages_sent.inc_by(frames);
        if end.is_some() || !wrote {
            return end;
        }
        match self.ws.flush(&mut io) {
            Ok(()) => None,
            Err(e) if would_block(&e) => {
                self.blocked_since = Some(now);
                None
            }
            Err(_) => Some(End::Closed),
        }
    }
}
