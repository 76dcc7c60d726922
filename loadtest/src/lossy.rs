//! A lossy link on loopback for QUIC tests and the bot swarm: a UDP proxy in front of
//! a zone that drops and reorders a given share of datagrams in both directions, from
//! a seeded random stream so a run can be repeated. Everything stays on 127.0.0.1.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// How bad the link is.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Share of datagrams dropped (0..1), each direction.
    pub drop: f64,
    /// Share of the rest held back, so later ones overtake them.
    pub reorder: f64,
    /// The longest hold-back (at least 5 ms; each one is uniform from 5 ms to this).
    /// Past a client's input interval (50 ms at 20 Hz) inputs overtake each other.
    pub reorder_max_delay: Duration,
    pub seed: u64,
}

/// What the link did so far.
#[derive(Debug, Default)]
pub struct LinkCounts {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub reordered: AtomicU64,
}

impl LinkCounts {
    /// Dropped datagrams as a share of all it was given.
    pub fn drop_share(&self) -> f64 {
        share(
            self.dropped.load(Ordering::Relaxed),
            self.forwarded.load(Ordering::Relaxed),
        )
    }
}

/// `part` as a share of `part + other` (0 when both are 0): loss ratios.
pub fn share(part: u64, other: u64) -> f64 {
    if part + other == 0 {
        0.0
    } else {
        part as f64 / (part + other) as f64
    }
}

/// A running proxy; stops when dropped.
pub struct LossyLink {
    /// Where clients send instead of the zone.
    pub addr: SocketAddr,
    pub counts: Arc<LinkCounts>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Drop for LossyLink {
    fn drop(&mut self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

/// Decides each datagram's fate.
struct Fate {
    rng: Mutex<ChaCha8Rng>,
    how: Impairment,
    counts: Arc<LinkCounts>,
}

impl Fate {
    /// `None`: drop it; `Some(delay)`: send after `delay` (zero for most).
    fn decide(&self) -> Option<Duration> {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let mut unit = || f64::from(rng.next_u32()) / f64::from(u32::MAX);
        if unit() < self.how.drop {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.counts.forwarded.fetch_add(1, Ordering::Relaxed);
        if unit() < self.how.reorder {
            self.counts.reordered.fetch_add(1, Ordering::Relaxed);
            let min = Duration::from_millis(5);
            let spread = self.how.reorder_max_delay.saturating_sub(min);
            return Some(min + spread.mul_f64(unit()));
        }
        Some(Duration::ZERO)
    }
}

/// Sends `data` to `to` (or the connected peer) from `socket` after `delay`.
fn send_later(socket: &Arc<UdpSocket>, to: Option<SocketAddr>, data: Vec<u8>, delay: Duration) {
    let socket = socket.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = match to {
            Some(to) => socket.send_to(&data, to).await,
            None => socket.send(&data).await,
        };
    });
}

impl LossyLink {
    /// Starts a proxy on 127.0.0.1 in front of `upstream`.
    pub async fn start(upstream: SocketAddr, how: Impairment) -> std::io::Result<LossyLink> {
        let front = Arc::new(bind_loopback()?);
        let addr = front.local_addr()?;
        let counts = Arc::new(LinkCounts::default());
        let fate = Arc::new(Fate {
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(how.seed)),
            how,
            counts: counts.clone(),
        });
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let main = {
            let tasks = tasks.clone();
            tokio::spawn(async move {
                // One upstream socket per client address, so the zone sees distinct peers.
                let mut peers: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
                let mut buf = vec![0u8; 65536];
                loop {
                    let Ok((n, from)) = front.recv_from(&mut buf).await else {
                        return;
                    };
                    let up = match peers.get(&from) {
                        Some(s) => s.clone(),
                        None => {
                            let Ok(s) = bind_loopback() else {
                                continue;
                            };
                            if s.connect(upstream).await.is_err() {
                                continue;
                            }
                            let s = Arc::new(s);
                            peers.insert(from, s.clone());
                            let back = tokio::spawn(relay_back(
                                s.clone(),
                                front.clone(),
                                from,
                                fate.clone(),
                            ));
                            tasks.lock().unwrap_or_else(|e| e.into_inner()).push(back);
                            s
                        }
                    };
                    if let Some(delay) = fate.decide() {
                        send_now_or_later(&up, None, &buf[..n], delay);
                    }
                }
            })
        };
        tasks.lock().unwrap_or_else(|e| e.into_inner()).push(main);
        Ok(LossyLink {
            addr,
            counts,
            tasks,
        })
    }
}

/// Socket buffers asked for the proxy's sockets (the kernel caps them at
/// `net.core.*mem_max`).
const PROXY_BUFFER: usize = 4 << 20;

/// A UDP socket on 127.0.0.1 with room for a tick's burst: a swarm's bots share one
/// endpoint, so one socket each way carries every bot's traffic, and the default
/// buffer (about 270 snapshots) would add loss nobody asked for whenever the bot
/// thread is busy.
fn bind_loopback() -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Larger buffers only help a burst; a smaller one is no error.
    let _ = socket.set_recv_buffer_size(PROXY_BUFFER);
    let _ = socket.set_send_buffer_size(PROXY_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    UdpSocket::from_std(socket.into())
}

/// Zone → client for one client.
async fn relay_back(
    up: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    fate: Arc<Fate>,
) {
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = up.recv(&mut buf).await {
        if let Some(delay) = fate.decide() {
            send_now_or_later(&front, Some(client), &buf[..n], delay);
        }
    }
}

fn send_now_or_later(
    socket: &Arc<UdpSocket>,
    to: Option<SocketAddr>,
    data: &[u8],
    delay: Duration,
) {
    if delay.is_zero() {
        let sent = match to {
            Some(to) => socket.try_send_to(data, to),
            None => socket.try_send(data),
        };
        // A busy socket must not add loss nobody asked for: wait for room instead.
        if !matches!(&sent, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            return;
        }
    }
    send_later(socket, to, data.to_vec(), delay);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_link_drops_about_the_share_asked_and_forwards_the_rest() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let link = LossyLink::start(
            server.local_addr().unwrap(),
            Impairment {
                drop: 0.2,
                reorder: 0.0,
                reorder_max_delay: Duration::from_millis(25),
                seed: 7,
            },
        )
        .await
        .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(link.addr).await.unwrap();
        let mut got = 0;
        let mut buf = [0u8; 16];
        for i in 0..1000u32 {
            client.send(&i.to_be_bytes()).await.unwrap();
            if i % 50 == 49 {
                while let Ok(Ok(_)) =
                    tokio::time::timeout(Duration::from_millis(20), server.recv(&mut buf)).await
                {
                    got += 1;
                }
            }
        }
        let dropped = link.counts.dropped.load(Ordering::Relaxed);
        assert_eq!(
            got + dropped,
            1000,
            "every datagram is either forwarded or dropped"
        );
        assert!(
            (150..250).contains(&dropped),
            "dropped {dropped} of 1000 at 20%"
        );
    }
}
