//! The endpoint loop, written once for the zone and the bots: one task owns the UDP
//! socket, quinn-proto's `Endpoint` and every connection's state machine. It reads
//! datagrams in batches and routes them, runs every connection that had something
//! happen through one pass (its events, its stream, its packets out, its endpoint
//! events), fires the timeouts from one heap, and sends what the socket refused once
//! it takes packets again.
//!
//! What differs between a server and a client (what to do with a new connection's
//! first packet, with each event, with a connection's own deadlines, and the owner's
//! own wake-ups such as a mailbox or a command channel) is a [`Driver`].

use std::future::Future;
use std::time::Instant;

use quinn_proto::{
    Connection, ConnectionError, ConnectionHandle, Endpoint, Event, Incoming, Transmit,
};

use crate::alarm::{Alarm, earliest};
use crate::conns::{ConnKey, Conns, Driven, forward_endpoint_events};
use crate::udp::{Datagram, UdpIo};

/// How the loop paces its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopConfig {
    /// Receive batches read per wake before their datagrams are handled.
    pub recv_batches: usize,
    /// With `Some(n)`, due timeouts are served every `n` datagrams and after each
    /// connection of a pass, not only when the timer rings: a client running many
    /// bots sends a due input while a burst of snapshots is still being read.
    pub serve_due_every: Option<usize>,
}

/// What an endpoint's owner decides. Every method runs on the endpoint task, between
/// I/O: none may block.
pub trait Driver: Send + Sized {
    /// What the owner keeps per connection.
    type Conn: Driven + Send;
    /// The owner's own wake-ups (mail from other tasks, commands).
    type Wake: Send;

    /// Waits for the owner's next wake-up. Must be cancel safe: the loop drops it when
    /// the socket or the timer wins.
    fn wait(&mut self) -> impl Future<Output = Self::Wake> + Send;
    /// Handles a wake-up.
    fn on_wake(&mut self, core: &mut Core<Self::Conn>, wake: Self::Wake, now: Instant);
    /// A new connection's first packet: a server accepts ([`Core::accept`]) or refuses
    /// it, a client ignores it.
    fn on_incoming(&mut self, core: &mut Core<Self::Conn>, incoming: Incoming, now: Instant);
    /// Starts a pass over a connection (before its events).
    fn before_pass(&mut self, _c: &mut Self::Conn, _now: Instant) {}
    /// One event of a connection's state machine.
    fn on_event(&mut self, c: &mut Self::Conn, event: Event, now: Instant);
    /// After a round of events, before packets leave (write the stream).
    fn after_events(&mut self, c: &mut Self::Conn, now: Instant);
    /// Ends a pass over a connection (its packets are out).
    fn after_pass(&mut self, _c: &mut Self::Conn, _now: Instant) {}
    /// A connection's timeout came up; quinn-proto's timers have run, the owner's own
    /// deadlines (from [`Driven::next_deadline`]) are its to check.
    fn on_timeout(&mut self, _c: &mut Self::Conn, _now: Instant) {}
    /// The connection is drained and gone from the endpoint.
    fn on_drained(&mut self, c: Box<Self::Conn>);
    /// The owner's own deadline beside the connections' (a shutdown's grace).
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// The owner's deadline has passed (called after every turn until it moves).
    fn on_deadline(&mut self, _core: &mut Core<Self::Conn>, _now: Instant) {}
    /// True when the loop ends (asked after every turn).
    fn finished(&self, core: &Core<Self::Conn>, now: Instant) -> bool;
    /// The loop ended (the socket failed, or [`Driver::finished`]): the connections
    /// still there are the owner's to let go.
    fn finish(&mut self, _core: &mut Core<Self::Conn>) {}
}

/// The endpoint's shared parts: quinn-proto's endpoint, the socket, the connections.
pub struct Core<C> {
    pub endpoint: Endpoint,
    pub io: UdpIo,
    pub conns: Conns<C>,
    config: LoopConfig,
    /// Scratch: connections whose timeout is due, datagrams read, a stateless answer.
    due: Vec<ConnKey>,
    received: Vec<Datagram>,
    response_buf: Vec<u8>,
}

impl<C: Driven> Core<C> {
    pub fn new(endpoint: Endpoint, io: UdpIo, config: LoopConfig) -> Self {
        Core {
            endpoint,
            io,
            conns: Conns::default(),
            config,
            due: Vec::new(),
            received: Vec::new(),
            response_buf: Vec::new(),
        }
    }

    /// Accepts a new connection; a refusal's answer goes out at once.
    pub fn accept(
        &mut self,
        incoming: Incoming,
        now: Instant,
    ) -> Result<(ConnectionHandle, Connection), ConnectionError> {
        self.response_buf.clear();
        match self
            .endpoint
            .accept(incoming, now, &mut self.response_buf, None)
        {
            Ok(accepted) => Ok(accepted),
            Err(e) => {
                if let Some(t) = e.response {
                    self.send_response(&t);
                }
                Err(e.cause)
            }
        }
    }

    /// Refuses a new connection (the server is stopping), telling the peer so.
    pub fn refuse(&mut self, incoming: Incoming) {
        self.response_buf.clear();
        let t = self.endpoint.refuse(incoming, &mut self.response_buf);
        self.send_response(&t);
    }

    fn send_response(&mut self, t: &Transmit) {
        self.io.send(t, &self.response_buf[..t.size]);
    }

    /// Reads what the socket has; returns when the reads were done (what the
    /// datagrams' handling counts as their receive time).
    fn receive<D: Driver<Conn = C>>(&mut self, d: &mut D) -> Instant {
        let mut received = std::mem::take(&mut self.received);
        self.io.receive(self.config.recv_batches, &mut received);
        let now = Instant::now();
        for (n, datagram) in received.drain(..).enumerate() {
            let routed = self.conns.route(
                &mut self.endpoint,
                &mut self.io,
                datagram,
                now,
                &mut self.response_buf,
            );
            if let Some(incoming) = routed {
                d.on_incoming(self, incoming, now);
            }
            if let Some(every) = self.config.serve_due_every
                && n % every == every - 1
            {
                self.serve_due(d);
            }
        }
        self.received = received;
        now
    }

    /// One pass over a connection: its events, its stream, its packets out, and its
    /// endpoint events (which may give it more to do).
    fn process<D: Driver<Conn = C>>(&mut self, d: &mut D, c: &mut C, now: Instant) {
        d.before_pass(c, now);
        loop {
            while let Some(event) = c.proto().poll() {
                d.on_event(c, event, now);
            }
            d.after_events(c, now);
            self.io.transmit(c.proto(), now);
            let key = c.key();
            if !forward_endpoint_events(&mut self.endpoint, key, c.proto()) {
                break;
            }
        }
        d.after_pass(c, now);
    }

    /// Ends a pass: the connection goes back to its slot with its timeout armed, or
    /// leaves when drained.
    fn done<D: Driver<Conn = C>>(&mut self, d: &mut D, c: Box<C>) {
        if let Some(drained) = self.conns.done(c) {
            d.on_drained(drained);
        }
    }

    /// Runs every connection queued for a pass.
    pub fn flush<D: Driver<Conn = C>>(&mut self, d: &mut D, now: Instant) {
        while let Some(mut c) = self.conns.next_dirty() {
            self.process(d, &mut c, now);
            self.done(d, c);
            if self.config.serve_due_every.is_some() {
                self.serve_due(d);
            }
        }
    }

    /// Serves every connection whose timeout is due now.
    fn serve_due<D: Driver<Conn = C>>(&mut self, d: &mut D) {
        let now = Instant::now();
        if self.conns.next_timeout().is_none_or(|t| t > now) {
            return;
        }
        let mut due = std::mem::take(&mut self.due);
        self.conns.expire(now, &mut due);
        for key in due.drain(..) {
            let Some(mut c) = self.conns.take(key) else {
                continue;
            };
            c.proto().handle_timeout(now);
            d.on_timeout(&mut c, now);
            self.process(d, &mut c, now);
            self.done(d, c);
        }
        self.due = due;
    }
}

/// What woke the loop.
enum Turn<W> {
    Owner(W),
    Readable,
    Timer,
    Writable,
}

/// Runs the endpoint until the driver says it is finished or the socket fails.
pub async fn run<D: Driver>(mut core: Core<D::Conn>, mut driver: D) {
    let mut alarm = Alarm::default();
    loop {
        alarm.set(earliest(core.conns.next_timeout(), driver.deadline()));
        let turn = tokio::select! {
            biased;
            w = driver.wait() => Turn::Owner(w),
            r = core.io.readable() => match r {
                Ok(()) => Turn::Readable,
                Err(e) => {
                    tracing::error!("the QUIC socket failed: {e}");
                    break;
                }
            },
            _ = alarm.ring() => Turn::Timer,
            _ = core.io.writable() => Turn::Writable,
        };
        let now = match turn {
            Turn::Owner(w) => {
                let now = Instant::now();
                driver.on_wake(&mut core, w, now);
                now
            }
            Turn::Readable => core.receive(&mut driver),
            Turn::Timer => {
                core.serve_due(&mut driver);
                Instant::now()
            }
            Turn::Writable => {
                core.io.send_backlog();
                Instant::now()
            }
        };
        core.flush(&mut driver, now);
        if driver.deadline().is_some_and(|t| t <= now) {
            driver.on_deadline(&mut core, now);
            core.flush(&mut driver, now);
        }
        if driver.finished(&core, now) {
            break;
        }
    }
    driver.finish(&mut core);
}
