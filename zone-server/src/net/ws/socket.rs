//! A WebSocket connection's TCP socket, shared by the connection's task (which reads
//! and writes through tungstenite) and the dispatcher (which writes each tick's
//! snapshot frame straight into the socket, without waking the task).
//!
//! Waking a thousand tasks a tick, each polling its `select!` and tungstenite's sink
//! to send one frame, cost more than the write itself (BENCHMARKS.md). A server-to-
//! client WebSocket frame is a 2–10 byte header and the unmasked payload, so the
//! dispatcher can write it with one `writev`. Two writers on one byte stream must
//! never interleave inside a frame; [`Gate`] keeps them apart:
//! - the dispatcher writes only while tungstenite has no bytes half-written, and
//! - the unsent end of a direct frame (a short write) goes out before any byte of
//!   tungstenite's, from the task's next write or flush.

use std::io::{self, IoSlice, Read};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use crate::metrics::Metrics;
use crate::net::outbox::{DirectSend, DirectSnapshots};

/// Who may write next, and what must go first.
#[derive(Default)]
struct Gate {
    /// tungstenite holds bytes it has offered the socket and not all written: a
    /// direct frame now could land inside one of its frames. Set by a short or
    /// blocked write, cleared by a completed flush (tungstenite writes its whole
    /// buffer, front first, before it flushes the stream).
    task_mid_write: bool,
    /// The unsent end of a direct frame; nothing else may be written before it.
    tail: Bytes,
    /// The task has finished with the connection (a close frame may be out): the
    /// dispatcher must not write after it.
    closed: bool,
}

struct Shared {
    stream: TcpStream,
    gate: Mutex<Gate>,
}

impl Shared {
    fn gate(&self) -> MutexGuard<'_, Gate> {
        // A poisoned gate only means a writer panicked between two plain stores.
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes what is left of a direct frame; `WouldBlock` while any of it is left.
    fn drain_tail(&self, gate: &mut Gate) -> io::Result<()> {
        while !gate.tail.is_empty() {
            let n = self.stream.try_write(&gate.tail)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            gate.tail.advance(n);
        }
        Ok(())
    }
}

/// The task's side of the socket, handed to tungstenite in place of the `TcpStream`.
pub struct WsSocket {
    shared: Arc<Shared>,
}

impl WsSocket {
    pub fn new(stream: TcpStream) -> Self {
        WsSocket {
            shared: Arc::new(Shared {
                stream,
                gate: Mutex::new(Gate::default()),
            }),
        }
    }

    /// The dispatcher's side: it does not keep the socket open once the task is done.
    pub fn direct(&self, metrics: Arc<Metrics>) -> WsDirect {
        WsDirect {
            shared: Arc::downgrade(&self.shared),
            metrics,
        }
    }

    /// Stops direct writes: the task is about to send its last frames (a kick, a close).
    pub fn stop_direct(&self) {
        self.shared.gate().closed = true;
    }
}

impl Drop for WsSocket {
    fn drop(&mut self) {
        self.stop_direct();
    }
}

impl AsyncRead for WsSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let stream = &self.shared.stream;
        let socket = socket2::SockRef::from(stream);
        loop {
            ready!(stream.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let wanted = unfilled.len();
            let mut short = None;
            let read = stream.try_io(Interest::READABLE, || {
                let n = (&*socket).read(unfilled)?;
                // A short read drained the socket (epoll is edge-triggered): report
                // WouldBlock to `try_io` so it clears the readiness now, sparing the
                // next poll a read that could only fail. tokio's own `TcpStream`
                // does the same; data that arrives meanwhile raises a new event.
                if n > 0 && n < wanted {
                    short = Some(n);
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            });
            match (read, short) {
                (_, Some(n)) | (Ok(n), None) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale; `try_io` cleared it, so this waits.
                (Err(e), None) if e.kind() == io::ErrorKind::WouldBlock => {}
                (Err(e), None) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for WsSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        loop {
            let attempt = {
                let mut gate = shared.gate();
                let attempt = shared
                    .drain_tail(&mut gate)
                    .and_then(|()| shared.stream.try_write(buf));
                // `buf` is tungstenite's whole buffer: anything short of all of it
                // stays there, possibly mid-frame.
                gate.task_mid_write = !matches!(attempt, Ok(n) if n == buf.len());
                attempt
            };
            match attempt {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(shared.stream.poll_write_ready(cx))?;
                }
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let shared = &self.shared;
        loop {
            let attempt = {
                let mut gate = shared.gate();
                let attempt = shared.drain_tail(&mut gate);
                if attempt.is_ok() {
                    // tungstenite flushes the stream only after writing its buffer out.
                    gate.task_mid_write = false;
                }
                attempt
            };
            match attempt {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(shared.stream.poll_write_ready(cx))?;
                }
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        self.stop_direct();
        Poll::Ready(socket2::SockRef::from(&self.shared.stream).shutdown(std::net::Shutdown::Write))
    }
}

/// The dispatcher's writer of snapshot frames for one WebSocket connection.
pub struct WsDirect {
    shared: Weak<Shared>,
    metrics: Arc<Metrics>,
}

/// Writes the header of an unmasked, final, binary WebSocket frame (RFC 6455 §5.2)
/// of `len` payload bytes into `out`; returns its length.
fn binary_frame_header(len: usize, out: &mut [u8; 10]) -> usize {
    out[0] = 0x82; // FIN, opcode binary
    if len < 126 {
        out[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

impl DirectSnapshots for WsDirect {
    fn max_len(&self) -> usize {
        // Any size: a short write leaves a tail for the task to finish.
        usize::MAX
    }

    fn send(&self, snapshot: Bytes) -> DirectSend {
        let Some(shared) = self.shared.upgrade() else {
            // The connection is gone; the tick thread hears of it from its task.
            return DirectSend::Sent;
        };
        let mut header = [0u8; 10];
        let header_len = binary_frame_header(snapshot.len(), &mut header);
        let total = header_len + snapshot.len();
        let mut gate = shared.gate();
        if gate.closed {
            return DirectSend::Sent;
        }
        if gate.task_mid_write || !gate.tail.is_empty() {
            return DirectSend::Refused(snapshot);
        }
        let parts = [IoSlice::new(&header[..header_len]), IoSlice::new(&snapshot)];
        let outcome = match shared.stream.try_write_vectored(&parts) {
            Ok(n) if n == total => DirectSend::Sent,
            Ok(n) => {
                let mut rest = BytesMut::with_capacity(total - n);
                if n < header_len {
                    rest.extend_from_slice(&header[n..header_len]);
                    rest.extend_from_slice(&snapshot);
                } else {
                    rest.extend_from_slice(&snapshot[n - header_len..]);
                }
                gate.tail = rest.freeze();
                DirectSend::Partial
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return DirectSend::Refused(snapshot);
            }
            // A broken socket: the task's next read or write ends the session.
            Err(_) => return DirectSend::Sent,
        };
        drop(gate);
        let m = &self.metrics;
        m.snapshot_size.observe(snapshot.len() as f64);
        m.ws.bytes_sent.inc_by(snapshot.len() as u64);
        m.ws.messages_sent.inc();
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (WsSocket, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (WsSocket::new(server), client)
    }

    #[test]
    fn frame_headers_follow_rfc_6455() {
        let mut h = [0u8; 10];
        assert_eq!(binary_frame_header(5, &mut h), 2);
        assert_eq!(&h[..2], &[0x82, 5]);
        assert_eq!(binary_frame_header(300, &mut h), 4);
        assert_eq!(&h[..4], &[0x82, 126, 1, 44]);
        assert_eq!(binary_frame_header(70_000, &mut h), 10);
        assert_eq!(&h[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }

    #[tokio::test]
    async fn a_direct_frame_reaches_the_peer_whole() {
        let (socket, mut client) = pair().await;
        let direct = socket.direct(Arc::new(Metrics::new("test")));
        assert!(matches!(
            direct.send(Bytes::from_static(b"hello")),
            DirectSend::Sent
        ));
        let mut got = [0u8; 7];
        client.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"\x82\x05hello");
    }

    #[tokio::test]
    async fn the_dispatcher_waits_while_the_task_is_mid_write() {
        let (mut socket, _client) = pair().await;
        let direct = socket.direct(Arc::new(Metrics::new("test")));
        socket.shared.gate().task_mid_write = true;
        assert!(matches!(
            direct.send(Bytes::from_static(b"x")),
            DirectSend::Refused(_)
        ));
        // A completed flush means tungstenite's buffer is empty again.
        socket.flush().await.expect("flush");
        assert!(matches!(
            direct.send(Bytes::from_static(b"x")),
            DirectSend::Sent
        ));
        // After the task stops direct writes, nothing more is written.
        socket.stop_direct();
        assert!(matches!(
            direct.send(Bytes::from_static(b"y")),
            DirectSend::Sent
        ));
        drop(socket);
        assert!(matches!(
            direct.send(Bytes::from_static(b"z")),
            DirectSend::Sent
        ));
    }

    /// A peer that does not read fills the socket: the dispatcher's frame is cut short,
    /// and every byte of it must reach the peer before any byte the task writes.
    #[tokio::test]
    async fn a_short_direct_write_is_finished_before_the_task_writes() {
        let (mut socket, mut client) = pair().await;
        socket2::SockRef::from(&socket.shared.stream)
            .set_send_buffer_size(4096)
            .expect("sndbuf");
        let direct = socket.direct(Arc::new(Metrics::new("test")));
        let big = Bytes::from(vec![7u8; 1 << 20]);
        let mut sent = Vec::new();
        let outcome = loop {
            match direct.send(big.clone()) {
                DirectSend::Sent => sent.push(big.len()),
                other => break other,
            }
        };
        assert!(matches!(outcome, DirectSend::Partial), "the socket filled");
        sent.push(big.len());
        assert!(matches!(direct.send(big.clone()), DirectSend::Refused(_)));
        // The task writes its own frame; the reader must see the direct ones first.
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            client.read_to_end(&mut all).await.expect("read");
            all
        });
        socket.write_all(b"TASK").await.expect("write");
        socket.flush().await.expect("flush");
        socket.shutdown().await.expect("shutdown");
        drop(socket);
        let all = reader.await.expect("reader");
        let mut at = 0;
        for len in sent {
            assert_eq!(&all[at..at + 4], &[0x82, 127, 0, 0], "a frame header");
            at += 10;
            assert!(all[at..at + len].iter().all(|&b| b == 7), "a whole payload");
            at += len;
        }
        assert_eq!(&all[at..], b"TASK");
    }
}
