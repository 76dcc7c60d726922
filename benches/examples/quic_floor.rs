//! The floor under the zone's QUIC transport: the zone's own endpoint set-up (TLS 1.3,
//! transport limits, the UDP socket: `arcane_zone_server::bind_quic`) and endpoint
//! loop (`arcane_quic_io`), carrying per client per tick one ~110-byte datagram out
//! (a snapshot) and one ~20-byte datagram in (an input), with no session, no tick
//! and no simulation. What quinn-proto costs on top of the UDP floor (`tcp_floor
//! udp-server`): encryption, header protection, frame assembly, acknowledgements, loss
//! detection and timers, per packet. Whatever CPU this costs, a zone on this QUIC
//! stack pays at least it.
//!
//! The clients answer each snapshot with an input sent a few milliseconds before the
//! server's next tick is due, as the bots time theirs, so that acknowledgements ride
//! on inputs and snapshots as far as quinn lets them (clients on a timer of their own
//! would double the packets with ACK-only ones).
//!
//! `quic_floor server [clients] [seconds]` listens on 127.0.0.1:7997, waits for its
//! clients to connect, then measures and prints its own CPU per client per tick over
//! `seconds` (less the warm-up) and closes the connections; `quic_floor clients
//! [clients] [seconds]` is the other side, every client on one endpoint as the
//! swarm's bots share one (run it as a second process). The server's self-signed
//! certificate is pinned by hash: the server writes its `quic://…?sha256=…` address to
//! `$TMPDIR/arcane-quic-floor.url` (or `ARCANE_QUIC_FLOOR_URL` names it to the
//! clients).
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arcane_quic_io::{ConnKey, Core, Driven, Driver, UdpIo, earliest, run};
use arcane_zone_server::QUIC_PACE as PACE;
use bytes::Bytes;
use quinn_proto::{
    ClientConfig, Connection, ConnectionHandle, Endpoint, EndpointConfig, Event, Incoming, VarInt,
};

mod support;

const TICK: Duration = Duration::from_millis(50);
const SNAPSHOT: [u8; 110] = [7; 110];
const INPUT: [u8; 20] = [3; 20];
/// How long before the server's next tick a client's input is sent (the bots tune
/// theirs from the zone's receipts to a few milliseconds).
const LEAD: Duration = Duration::from_millis(20);
/// Ticks after the last client connected before the measurement starts.
const WARM_UP: u64 = 40;
/// How long the clients may take to connect before the run is given up.
const CONNECT_LIMIT: Duration = Duration::from_secs(60);
/// How long the closes get to leave before the server stops.
const CLOSE_FLUSH: Duration = Duration::from_millis(300);

struct Conn {
    key: ConnKey,
    proto: Connection,
    live: bool,
    /// A client's next input: a lead before the server's next tick, as the bots time
    /// theirs (so acknowledgements ride on inputs and snapshots as they do for them).
    send_at: Option<Instant>,
}

impl Driven for Conn {
    fn key(&self) -> ConnKey {
        self.key
    }
    fn proto(&mut self) -> &mut Connection {
        &mut self.proto
    }
    fn next_deadline(&mut self) -> Option<Instant> {
        earliest(self.proto.poll_timeout(), self.send_at)
    }
}

/// The server's measurement: when it started (tick, time, CPU) once every client was
/// connected and warm.
struct Measure {
    clients: usize,
    /// How many ticks are measured.
    length: u64,
    ticks: u64,
    all_live_at: Option<u64>,
    started: Option<(u64, Instant, (f64, f64))>,
    /// Datagrams out and in, and ACK frames out, when the measurement started.
    counts: [u64; 3],
}

/// Every connection's datagrams out and in, and ACK frames out, so far.
fn counts(core: &mut Core<Conn>) -> [u64; 3] {
    core.conns.iter_mut().fold([0; 3], |[o, i, a], c| {
        let s = c.proto.stats();
        [
            o + s.udp_tx.datagrams,
            i + s.udp_rx.datagrams,
            a + s.frame_tx.acks,
        ]
    })
}

/// One side of the floor: a server, or the clients (`connect` set).
struct Floor {
    ticker: tokio::time::Interval,
    payload: Bytes,
    /// The clients: where to connect and how, until the first tick connects them all.
    connect: Option<(SocketAddr, String, ClientConfig, usize)>,
    /// The server: what is measured.
    measure: Option<Measure>,
    live: usize,
    ever_live: usize,
    slots: Vec<usize>,
    give_up_at: Instant,
    stop_at: Option<Instant>,
    failed: Option<String>,
}

impl Floor {
    fn new(payload: &'static [u8], measured_ticks: u64) -> Floor {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        Floor {
            ticker,
            payload: Bytes::from_static(payload),
            connect: None,
            measure: None,
            live: 0,
            ever_live: 0,
            slots: Vec::new(),
            give_up_at: Instant::now() + CONNECT_LIMIT + TICK * measured_ticks as u32,
            stop_at: None,
            failed: None,
        }
    }

    /// The server's tick: starts, or ends, the measurement; the end closes every
    /// connection.
    fn measure(&mut self, core: &mut Core<Conn>, now: Instant) {
        let live = self.live;
        let Some(m) = self.measure.as_mut() else {
            return;
        };
        m.ticks += 1;
        if m.all_live_at.is_none() && live == m.clients {
            m.all_live_at = Some(m.ticks);
        }
        match (m.started, m.all_live_at) {
            (None, Some(at)) if m.ticks == at + WARM_UP => {
                m.started = Some((m.ticks, Instant::now(), support::cpu()));
                m.counts = counts(core);
            }
            (Some((from, t0, cpu0)), _) if m.ticks == from + m.length => {
                let measured_ticks = m.length;
                let secs = t0.elapsed().as_secs_f64();
                support::report("quic-server", m.clients, measured_ticks, secs, cpu0);
                let now_counts = counts(core);
                let per = |i: usize| {
                    (now_counts[i] - m.counts[i]) as f64
                        / (measured_ticks as f64 * m.clients as f64)
                };
                println!(
                    "per client per tick: {:.2} datagrams out, {:.2} in, {:.2} ACK frames out",
                    per(0),
                    per(1),
                    per(2)
                );
                self.pass(core, |c| {
                    c.proto.close(now, VarInt::from_u32(0), Bytes::new());
                    true
                });
                self.stop_at = Some(now + CLOSE_FLUSH);
            }
            _ => {}
        }
    }

    /// Runs `f` on every connection and queues those it returns true for to send.
    fn pass(&mut self, core: &mut Core<Conn>, mut f: impl FnMut(&mut Conn) -> bool) {
        self.slots.clear();
        for c in core.conns.iter_mut() {
            if f(c) {
                self.slots.push(c.key.slot);
            }
        }
        for &slot in &self.slots {
            core.conns.mark(slot);
        }
    }
}

/// A new connection, not yet established.
fn insert(core: &mut Core<Conn>, handle: ConnectionHandle, proto: Connection) {
    let key = core.conns.new_key(handle);
    core.conns.insert(Conn {
        key,
        proto,
        live: false,
        send_at: None,
    });
}

/// The wake-ups are the ticks.
impl Driver for Floor {
    type Conn = Conn;
    type Wake = ();

    async fn wait(&mut self) {
        self.ticker.tick().await;
    }

    fn on_wake(&mut self, core: &mut Core<Conn>, _: (), now: Instant) {
        if let Some((addr, host, config, n)) = self.connect.take() {
            for _ in 0..n {
                match core.endpoint.connect(now, config.clone(), addr, &host) {
                    Ok((handle, proto)) => insert(core, handle, proto),
                    Err(e) => self.failed = Some(format!("cannot connect to {addr}: {e}")),
                }
            }
        }
        if self.measure.is_none() {
            return;
        }
        let payload = self.payload.clone();
        self.pass(core, |c| {
            c.live && c.proto.datagrams().send(payload.clone(), true).is_ok()
        });
        self.measure(core, now);
    }

    fn on_incoming(&mut self, core: &mut Core<Conn>, incoming: Incoming, now: Instant) {
        if self.measure.is_none() {
            core.endpoint.ignore(incoming);
            return;
        }
        if let Ok((handle, proto)) = core.accept(incoming, now) {
            insert(core, handle, proto);
        }
    }

    fn on_event(&mut self, c: &mut Conn, event: Event, now: Instant) {
        match event {
            Event::Connected => {
                c.live = true;
                self.live += 1;
                self.ever_live += 1;
            }
            Event::DatagramReceived => {
                while c.proto.datagrams().recv().is_some() {}
                // A client answers each snapshot with the next tick's input.
                if self.measure.is_none() && c.send_at.is_none() {
                    c.send_at = Some(now + TICK - LEAD);
                }
            }
            Event::ConnectionLost { .. } => self.live -= usize::from(std::mem::take(&mut c.live)),
            _ => {}
        }
    }

    fn after_events(&mut self, _c: &mut Conn, _now: Instant) {}

    fn on_timeout(&mut self, c: &mut Conn, now: Instant) {
        if c.send_at.is_some_and(|t| t <= now) {
            c.send_at = None;
            let _ = c.proto.datagrams().send(self.payload.clone(), true);
        }
    }

    fn on_drained(&mut self, _c: Box<Conn>) {}

    /// A run that could not be measured fails the process.
    fn finish(&mut self, _core: &mut Core<Conn>) {
        let f = &self;
        let unmeasured = f.measure.as_ref().is_some_and(|m| m.started.is_none());
        let why = match (&f.failed, unmeasured) {
            (Some(e), _) => e.clone(),
            (None, true) => format!("only {} clients connected", f.ever_live),
            (None, false) => return,
        };
        eprintln!("quic_floor: {why}");
        std::process::exit(1);
    }

    fn finished(&self, core: &Core<Conn>, now: Instant) -> bool {
        let f = &self;
        let clients_done = f.measure.is_none() && f.ever_live > 0 && core.conns.is_empty();
        f.stop_at.is_some_and(|t| now >= t) || clients_done || now >= f.give_up_at
    }
}

fn url_file() -> PathBuf {
    std::env::temp_dir().join("arcane-quic-floor.url")
}

fn server(n: usize, measured_ticks: u64) -> anyhow::Result<(Core<Conn>, Floor)> {
    let file = url_file();
    let _ = std::fs::remove_file(&file);
    let dir = tempfile::tempdir()?;
    let mut config = arcane_zone_server::ZoneServerConfig::local(dir.path().into(), "floor");
    config.quic_addr = "127.0.0.1:7997".parse()?;
    let listener = arcane_zone_server::bind_quic(&config)?;
    let endpoint = Endpoint::new(
        Arc::new(EndpointConfig::default()),
        Some(listener.server_config),
        !listener.io.may_fragment(),
        None,
    );
    let written = file.with_extension("tmp");
    std::fs::write(&written, &listener.public_endpoint)?;
    std::fs::rename(&written, &file)?;
    let mut floor = Floor::new(&SNAPSHOT, measured_ticks);
    floor.measure = Some(Measure {
        clients: n,
        length: measured_ticks,
        ticks: 0,
        all_live_at: None,
        started: None,
        counts: [0; 3],
    });
    let core = Core::new(endpoint, listener.io, PACE);
    Ok((core, floor))
}

fn clients(n: usize, measured_ticks: u64) -> anyhow::Result<(Core<Conn>, Floor)> {
    let url = match std::env::var("ARCANE_QUIC_FLOOR_URL") {
        Ok(url) => url,
        Err(_) => {
            let file = url_file();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(url) = std::fs::read_to_string(&file) {
                    break url;
                }
                anyhow::ensure!(Instant::now() < deadline, "no server wrote {file:?}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    let (addr, host, config) = arcane_loadtest::quic::client_config_for(url.trim())?;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").context("cannot open a socket")?;
    let io = UdpIo::new(socket, 4 << 20)?;
    let endpoint = Endpoint::new(
        Arc::new(EndpointConfig::default()),
        None,
        !io.may_fragment(),
        None,
    );
    let mut floor = Floor::new(&INPUT, measured_ticks);
    floor.connect = Some((addr, host, config, n));
    Ok((Core::new(endpoint, io, PACE), floor))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("server", String::as_str).to_string();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let secs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let measured_ticks = (secs * 20).saturating_sub(WARM_UP).max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _in_runtime = rt.enter();
    let (core, side) = match mode.as_str() {
        "server" => server(n, measured_ticks)?,
        "clients" => clients(n, measured_ticks)?,
        other => anyhow::bail!("unknown mode {other:?}: use server or clients [clients] [seconds]"),
    };
    rt.block_on(run(core, side));
    Ok(())
}
