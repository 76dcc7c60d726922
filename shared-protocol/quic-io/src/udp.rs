//! One UDP socket through quinn-udp: batched receives (GRO), segmented sends (GSO),
//! ECN, and a backlog for the packets the socket's send buffer refused for now.

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::BytesMut;
use quinn_proto::{Connection, EcnCodepoint, Transmit};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Receive buffer per batch slot: a GRO batch is at most 64 KiB.
const RECV_SLOT: usize = 64 * 1024;
/// Packets held while the socket's send buffer is full; beyond it they are dropped
/// (QUIC's loss recovery resends what matters).
const MAX_BACKLOG: usize = 8192;

/// One received UDP datagram, as `quinn_proto::Endpoint::handle` takes it.
pub struct Datagram {
    pub remote: SocketAddr,
    pub local_ip: Option<IpAddr>,
    pub ecn: Option<EcnCodepoint>,
    pub data: BytesMut,
}

/// A UDP socket with quinn-udp's batched receives (GRO), segmented sends (GSO) and
/// ECN, and a backlog of packets the socket refused for now.
pub struct UdpIo {
    socket: UdpSocket,
    state: quinn_udp::UdpSocketState,
    recv_buf: Box<[u8]>,
    send_buf: Vec<u8>,
    backlog: VecDeque<(Transmit, Vec<u8>)>,
}

impl UdpIo {
    /// Takes a bound socket and asks the kernel for `buffer` bytes of socket buffers
    /// each way (it caps them at `net.core.*mem_max`). Must run inside a tokio runtime.
    pub fn new(socket: std::net::UdpSocket, buffer: usize) -> io::Result<UdpIo> {
        let state = quinn_udp::UdpSocketState::new((&socket).into())?;
        // Larger buffers only help a burst; a smaller one is no error.
        let _ = state.set_send_buffer_size((&socket).into(), buffer);
        let _ = state.set_recv_buffer_size((&socket).into(), buffer);
        socket.set_nonblocking(true)?;
        Ok(UdpIo {
            socket: UdpSocket::from_std(socket)?,
            state,
            recv_buf: vec![0; RECV_SLOT * quinn_udp::BATCH_SIZE].into_boxed_slice(),
            send_buf: Vec::new(),
            backlog: VecDeque::new(),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Whether sent datagrams may be fragmented (then path MTU discovery stays off).
    pub fn may_fragment(&self) -> bool {
        self.state.may_fragment()
    }

    /// Waits until a datagram may be waiting.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Waits until the socket takes packets again; pending while nothing is held.
    pub async fn writable(&self) {
        if self.backlog.is_empty() {
            std::future::pending::<()>().await;
        }
        let _ = self.socket.writable().await;
    }

    /// Reads up to `batches` batches of datagrams into `into`; stops early when none
    /// is waiting.
    pub fn receive(&mut self, batches: usize, into: &mut Vec<Datagram>) {
        let mut metas = [quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE];
        let mut iovs: Vec<IoSliceMut> = self
            .recv_buf
            .chunks_mut(RECV_SLOT)
            .map(IoSliceMut::new)
            .collect();
        for _ in 0..batches {
            let (socket, state) = (&self.socket, &self.state);
            let got = socket.try_io(Interest::READABLE, || {
                state.recv(socket.into(), &mut iovs, &mut metas)
            });
            let n = match got {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // An ICMP error about a gone peer, and the like: not fatal.
                    tracing::debug!("UDP receive: {e}");
                    continue;
                }
            };
            for (meta, iov) in metas.iter().zip(iovs.iter()).take(n) {
                let mut data = BytesMut::from(&iov[..meta.len]);
                let ecn = meta.ecn.map(|e| match e {
                    quinn_udp::EcnCodepoint::Ect0 => EcnCodepoint::Ect0,
                    quinn_udp::EcnCodepoint::Ect1 => EcnCodepoint::Ect1,
                    quinn_udp::EcnCodepoint::Ce => EcnCodepoint::Ce,
                });
                // A GRO batch holds datagrams of `stride` bytes (the last may be
                // shorter).
                while !data.is_empty() {
                    let one = data.split_to(meta.stride.min(data.len()));
                    into.push(Datagram {
                        remote: meta.addr,
                        local_ip: meta.dst_ip,
                        ecn,
                        data: one,
                    });
                }
            }
        }
    }

    /// Sends every packet `conn` has ready.
    pub fn transmit(&mut self, conn: &mut Connection, now: Instant) {
        let segments = self.state.max_gso_segments();
        loop {
            let mut buf = std::mem::take(&mut self.send_buf);
            buf.clear();
            let Some(t) = conn.poll_transmit(now, segments, &mut buf) else {
                self.send_buf = buf;
                return;
            };
            self.send(&t, &buf[..t.size]);
            self.send_buf = buf;
        }
    }

    /// Sends one packet (of one or more GSO segments), or holds it while the socket's
    /// send buffer is full.
    pub fn send(&mut self, t: &Transmit, contents: &[u8]) {
        if self.backlog.is_empty() {
            let (socket, state) = (&self.socket, &self.state);
            let sent = socket.try_io(Interest::WRITABLE, || {
                state.send(socket.into(), &udp_transmit(t, contents))
            });
            match sent {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    // quinn-udp already logs (rate-limited) what the OS refused.
                    tracing::trace!("UDP send: {e}");
                    return;
                }
            }
        }
        if self.backlog.len() < MAX_BACKLOG {
            let held = Transmit {
                destination: t.destination,
                ecn: t.ecn,
                size: contents.len(),
                segment_size: t.segment_size,
                src_ip: t.src_ip,
            };
            self.backlog.push_back((held, contents.to_vec()));
        }
    }

    /// Sends what the full socket refused, until it refuses again.
    pub fn send_backlog(&mut self) {
        while let Some((t, contents)) = self.backlog.front() {
            let (socket, state) = (&self.socket, &self.state);
            let transmit = udp_transmit(t, contents);
            let sent = socket.try_io(Interest::WRITABLE, || state.send(socket.into(), &transmit));
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // Sent, or refused for good (logged by quinn-udp).
                _ => {
                    self.backlog.pop_front();
                }
            }
        }
    }
}

/// quinn-proto's transmit as quinn-udp sends it.
fn udp_transmit<'a>(t: &Transmit, contents: &'a [u8]) -> quinn_udp::Transmit<'a> {
    quinn_udp::Transmit {
        destination: t.destination,
        ecn: t.ecn.map(|e| match e {
            EcnCodepoint::Ect0 => quinn_udp::EcnCodepoint::Ect0,
            EcnCodepoint::Ect1 => quinn_udp::EcnCodepoint::Ect1,
            EcnCodepoint::Ce => quinn_udp::EcnCodepoint::Ce,
        }),
        contents,
        segment_size: t.segment_size,
        src_ip: t.src_ip,
    }
}
