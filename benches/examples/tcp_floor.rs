//! The kernel's floor for the zone's traffic pattern on loopback TCP or UDP: per client
//! per tick, one ~110-byte send (a snapshot) and one ~20-byte receive (an input frame),
//! with no WebSocket, no async runtime, no epoll and no simulation: a plain loop over
//! non-blocking sockets. Whatever CPU this costs, any zone server on that transport
//! pays at least it.
//!
//! `tcp_floor server [clients] [seconds]` listens on 127.0.0.1:7999 and prints its own
//! CPU per client per tick; `tcp_floor clients [clients] [seconds]` is the other side
//! (run it as a second process, as the bots are). `tcp_floor clients-waiting` reads
//! the snapshots in tasks on a tokio runtime that sleeps in epoll between deliveries,
//! as the bots and real clients do: each of the server's writes then also wakes the
//! reader, work the kernel does inside the server's `write` (and charges to it).
//!
//! `udp-server` and `udp-clients` do the same over UDP, as an unencrypted QUIC zone
//! would at best: one socket on 127.0.0.1:7998 that reads every input datagram with
//! `recv_from` and sends each client its snapshot with one `send_to`, against one
//! connected socket per client. The floor under the QUIC transport, before crypto,
//! acknowledgements and congestion control. `udp-clients-waiting` reads the snapshots
//! in tasks on a tokio runtime instead, waiting in epoll as the bots do, so that a
//! delivery may have to wake the client process, and the server's `send_to` pays it.
//! `udp-clients-shared` plays every client on one socket, as the swarm's bots share
//! one QUIC endpoint: the server still sends one snapshot per client per tick, all to
//! that address. `udp-server-batched` is `udp-server` with the snapshots handed to the
//! kernel `SEND_BATCH` at a time (`sendmmsg`), as a zone could send a tick's burst:
//! what that saves is the system call entry, not the per-packet work.
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

mod support;
use support::cpu;

/// One tick of one side's traffic, given a receive buffer.
type Tick = Box<dyn FnMut(&mut [u8])>;

const TICK: Duration = Duration::from_millis(50);
const SNAPSHOT: [u8; 110] = [7; 110];
const INPUT: [u8; 20] = [3; 20];

fn pump(socks: &mut [TcpStream], out: &[u8], buf: &mut [u8]) {
    for s in socks.iter_mut() {
        let _ = s.write(out);
    }
    for s in socks.iter_mut() {
        loop {
            match s.read(buf) {
                Ok(0) => break,
                Ok(n) if n < buf.len() => break,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("server", String::as_str).to_string();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let secs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let mut buf = [0u8; 4096];
    let mut tick: Tick = match mode.as_str() {
        "udp-server" => udp_server(n, false)?,
        "udp-server-batched" => udp_server(n, true)?,
        "udp-clients" => udp_clients(n)?,
        "udp-clients-waiting" => udp_clients_waiting(n)?,
        "udp-clients-shared" => udp_clients_shared(n)?,
        "server" | "clients" => tcp(&mode, n)?,
        "clients-waiting" => tcp_clients_waiting(n)?,
        other => {
            eprintln!(
                "unknown mode {other:?}: use server, clients, clients-waiting, udp-server, \
                 udp-server-batched, udp-clients, udp-clients-waiting or \
                 udp-clients-shared [clients] [seconds]"
            );
            std::process::exit(2);
        }
    };
    // Warm up, then measure.
    let mut next = Instant::now();
    let mut ticks = 0u64;
    let mut start = (Instant::now(), cpu());
    let total = secs * 20;
    while ticks < total {
        if ticks == 40 {
            start = (Instant::now(), cpu());
        }
        tick(&mut buf);
        ticks += 1;
        next += TICK;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    support::report(
        &mode,
        n,
        total - 40,
        start.0.elapsed().as_secs_f64(),
        start.1,
    );
    Ok(())
}

/// One TCP connection per client; the server writes snapshots, the clients inputs.
fn tcp(mode: &str, n: usize) -> std::io::Result<Tick> {
    let mut socks = Vec::with_capacity(n);
    let out: &'static [u8] = if mode == "server" {
        let l = TcpListener::bind("127.0.0.1:7999")?;
        while socks.len() < n {
            let (s, _) = l.accept()?;
            socks.push(s);
        }
        &SNAPSHOT
    } else {
        for _ in 0..n {
            socks.push(TcpStream::connect("127.0.0.1:7999")?);
        }
        &INPUT
    };
    for s in &socks {
        s.set_nodelay(true).ok();
        s.set_nonblocking(true).ok();
    }
    Ok(Box::new(move |buf: &mut [u8]| pump(&mut socks, out, buf)))
}

/// As the `clients` side of [`tcp`], but each connection's snapshots are read by a task
/// on a one-thread tokio runtime that sleeps in epoll between deliveries; the ticking
/// thread only writes the inputs (through a second handle on the same socket).
fn tcp_clients_waiting(n: usize) -> std::io::Result<Tick> {
    let mut writers = Vec::with_capacity(n);
    let mut readers = Vec::with_capacity(n);
    for _ in 0..n {
        let s = TcpStream::connect("127.0.0.1:7999")?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        readers.push(s.try_clone()?);
        writers.push(s);
    }
    spawn_waiting_readers(readers, |s| async move {
        use tokio::io::AsyncReadExt;
        let Ok(mut s) = tokio::net::TcpStream::from_std(s) else {
            return;
        };
        let mut buf = [0u8; 4096];
        while s.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    })?;
    Ok(Box::new(move |_: &mut [u8]| {
        for s in writers.iter_mut() {
            let _ = s.write(&INPUT);
        }
    }))
}

/// Runs `read(socket)` for every socket, each a task on a one-thread tokio runtime of
/// its own thread, which sleeps in epoll between deliveries as a bot process does.
fn spawn_waiting_readers<S, F>(
    sockets: Vec<S>,
    read: impl Fn(S) -> F + Send + 'static,
) -> std::io::Result<()>
where
    S: Send + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let mut tasks = tokio::task::JoinSet::new();
            for s in sockets {
                tasks.spawn(read(s));
            }
            while tasks.join_next().await.is_some() {}
        });
    });
    Ok(())
}

const UDP_ADDR: &str = "127.0.0.1:7998";

/// Snapshots per `sendmmsg` in `udp-server-batched` (quinn-udp's receive batch).
const SEND_BATCH: usize = 32;

/// One socket for every client: each tick, read whatever inputs arrived (an address is
/// known from its first datagram) and send `n` snapshots, one per client, spread over
/// the known addresses (one each when every client has a socket of its own), with a
/// `send_to` each or, `batched`, `SEND_BATCH` to a `sendmmsg`.
fn udp_server(n: usize, batched: bool) -> std::io::Result<Tick> {
    use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, sendmmsg};
    use std::os::fd::AsRawFd;
    let sock = UdpSocket::bind(UDP_ADDR)?;
    sock.set_nonblocking(true)?;
    let mut clients: Vec<SocketAddr> = Vec::with_capacity(n);
    let mut known = std::collections::HashSet::with_capacity(n);
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(SEND_BATCH, None);
    let iovs = vec![[std::io::IoSlice::new(&SNAPSHOT)]; SEND_BATCH];
    let mut to: Vec<Option<SockaddrIn>> = Vec::with_capacity(SEND_BATCH);
    Ok(Box::new(move |buf: &mut [u8]| {
        loop {
            match sock.recv_from(buf) {
                Ok((_, from)) => {
                    if known.insert(from) {
                        clients.push(from);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // An ICMP error from a client that went away: read on.
                Err(_) => continue,
            }
        }
        let mut targets = clients.iter().cycle().take(n);
        if !batched {
            for addr in targets {
                let _ = sock.send_to(&SNAPSHOT, addr);
            }
            return;
        }
        loop {
            to.clear();
            to.extend(targets.by_ref().take(SEND_BATCH).filter_map(|a| match a {
                SocketAddr::V4(v4) => Some(Some(SockaddrIn::from(*v4))),
                SocketAddr::V6(_) => None,
            }));
            if to.is_empty() {
                return;
            }
            // A full send buffer drops the rest of the batch, as `send_to` would.
            let _ = sendmmsg(
                sock.as_raw_fd(),
                &mut headers,
                &iovs[..to.len()],
                &to,
                [],
                MsgFlags::empty(),
            );
        }
    }))
}

/// A client's non-blocking socket, connected to the server.
fn udp_client_socket() -> std::io::Result<UdpSocket> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.connect(UDP_ADDR)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// One connected socket per client: send an input, read whatever snapshots arrived.
fn udp_clients(n: usize) -> std::io::Result<Tick> {
    let socks = (0..n)
        .map(|_| udp_client_socket())
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(Box::new(move |buf: &mut [u8]| {
        for s in &socks {
            let _ = s.send(&INPUT);
        }
        for s in &socks {
            while s.recv(buf).is_ok() {}
        }
    }))
}

/// As [`udp_clients`], but each socket's snapshots are read by a task on a one-thread
/// tokio runtime of its own, which sleeps in epoll between deliveries as a bot process
/// does; the ticking thread only sends the inputs.
fn udp_clients_waiting(n: usize) -> std::io::Result<Tick> {
    let mut senders = Vec::with_capacity(n);
    let mut readers = Vec::with_capacity(n);
    for _ in 0..n {
        let s = udp_client_socket()?;
        readers.push(s.try_clone()?);
        senders.push(s);
    }
    spawn_waiting_readers(readers, |s| async move {
        let Ok(s) = tokio::net::UdpSocket::from_std(s) else {
            return;
        };
        let mut buf = [0u8; 2048];
        while s.recv(&mut buf).await.is_ok() {}
    })?;
    Ok(Box::new(move |_: &mut [u8]| {
        for s in &senders {
            let _ = s.send(&INPUT);
        }
    }))
}

/// Every client on one socket: `n` inputs sent from it per tick, and every snapshot
/// read from it.
fn udp_clients_shared(n: usize) -> std::io::Result<Tick> {
    let s = udp_client_socket()?;
    Ok(Box::new(move |buf: &mut [u8]| {
        for _ in 0..n {
            let _ = s.send(&INPUT);
        }
        while s.recv(buf).is_ok() {}
    }))
}
