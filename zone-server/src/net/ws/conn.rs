//! A plain-TCP WebSocket connection run through tungstenite's synchronous context,
//! which takes the socket as an argument on every call. That lets one connection be
//! driven from two places without copying its state: its task (the Hello, the join,
//! and the close at the end, awaiting the socket's readiness) and, in between, the
//! tick thread (`poller.rs`), which reads and writes it once a tick with plain
//! non-blocking system calls.
//!
//! [`Frames`] is what the close path needs of a connection (read, queue, flush), for
//! this one and for tokio-tungstenite's stream (TLS connections).

use std::future::Future;
use std::io::{self, IoSliceMut, Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketContext};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// What the close path of a connection needs: the next message, a message queued,
/// everything queued written out.
pub trait Frames: Send {
    fn next_message(&mut self) -> impl Future<Output = Option<Result<Message, WsError>>> + Send;
    /// Queues `message`; it may be written at once or at the next flush.
    fn feed_message(
        &mut self,
        message: Message,
    ) -> impl Future<Output = Result<(), WsError>> + Send;
    fn flush_all(&mut self) -> impl Future<Output = Result<(), WsError>> + Send;
}

impl<S> Frames for WebSocketStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    async fn next_message(&mut self) -> Option<Result<Message, WsError>> {
        self.next().await
    }
    async fn feed_message(&mut self, message: Message) -> Result<(), WsError> {
        self.feed(message).await
    }
    async fn flush_all(&mut self) -> Result<(), WsError> {
        SinkExt::flush(self).await
    }
}

/// Whether tungstenite stopped because the socket would block.
pub(super) fn would_block(e: &WsError) -> bool {
    matches!(e, WsError::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// A tokio socket seen by tungstenite: `try_read`/`try_write`, which clear the
/// socket's readiness when they would block, so the next wait is a real one.
struct Ready<'a>(&'a TcpStream);

impl Read for Ready<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Ready<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A plain-TCP WebSocket connection while its task drives it.
pub struct AsyncConn {
    pub stream: TcpStream,
    pub ws: WebSocketContext,
}

impl AsyncConn {
    /// A connection whose HTTP upgrade is done (`stream` holds no unread frame bytes).
    pub fn new(
        stream: TcpStream,
        config: tokio_tungstenite::tungstenite::protocol::WebSocketConfig,
    ) -> Self {
        AsyncConn {
            stream,
            ws: WebSocketContext::new(Role::Server, Some(config)),
        }
    }
}

impl Frames for AsyncConn {
    async fn next_message(&mut self) -> Option<Result<Message, WsError>> {
        loop {
            // tungstenite's read never reports a blocked write (a queued pong): a
            // `WouldBlock` from it is the read side's.
            match self.ws.read(&mut Ready(&self.stream)) {
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return None,
                Err(e) if would_block(&e) => {
                    if let Err(e) = self.stream.readable().await {
                        return Some(Err(WsError::Io(e)));
                    }
                }
                other => return Some(other),
            }
        }
    }

    async fn feed_message(&mut self, message: Message) -> Result<(), WsError> {
        match self.ws.write(&mut Ready(&self.stream), message) {
            // Buffered: the flush writes it.
            Err(e) if would_block(&e) => Ok(()),
            other => other,
        }
    }

    async fn flush_all(&mut self) -> Result<(), WsError> {
        loop {
            match self.ws.flush(&mut Ready(&self.stream)) {
                Err(e) if would_block(&e) => self.stream.writable().await?,
                other => return other,
            }
        }
    }
}

/// A connection's socket on the tick thread: reads ask the kernel for the time the
/// newest bytes arrived (`SO_TIMESTAMPNS`), which becomes the inputs' receive time;
/// writes are plain `write`s. One read shorter than asked drained the socket: reads
/// after it in the same pass report `WouldBlock` without a system call (data that
/// arrives meanwhile waits for the next tick, as it would have anyway).
pub struct Stamped<'a> {
    stream: &'a std::net::TcpStream,
    cmsg: &'a mut [u8],
    drained: bool,
    /// The kernel's receive time of the newest bytes read (the system clock).
    received: Option<SystemTime>,
    /// Bytes read so far.
    pub bytes_read: usize,
}

impl<'a> Stamped<'a> {
    pub fn new(stream: &'a std::net::TcpStream, cmsg: &'a mut [u8]) -> Self {
        Stamped {
            stream,
            cmsg,
            drained: false,
            received: None,
            bytes_read: 0,
        }
    }

    /// When the newest bytes read arrived, on the monotonic clock, given the two
    /// clocks read together (`now`, `system_now`); `now` when the kernel did not say.
    pub fn received_at(&self, now: Instant, system_now: SystemTime) -> Instant {
        self.received
            .and_then(|t| system_now.duration_since(t).ok())
            .and_then(|age| now.checked_sub(age))
            .unwrap_or(now)
    }

    /// Room for the control message a read may carry.
    pub fn cmsg_buffer() -> Vec<u8> {
        nix::cmsg_space!(nix::sys::time::TimeSpec)
    }

    /// Turns on receive timestamps for `stream`.
    pub fn enable(stream: &std::net::TcpStream) -> io::Result<()> {
        nix::sys::socket::setsockopt(stream, nix::sys::socket::sockopt::ReceiveTimestampns, &true)
            .map_err(io::Error::from)
    }
}

impl Read for Stamped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.drained {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let wanted = buf.len();
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<()>(
            self.stream.as_raw_fd(),
            &mut iov,
            Some(&mut *self.cmsg),
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;
        for c in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                let (secs, nanos) = (ts.tv_sec(), ts.tv_nsec());
                if let (Ok(secs), Ok(nanos)) = (u64::try_from(secs), u32::try_from(nanos)) {
                    self.received = UNIX_EPOCH.checked_add(Duration::new(secs, nanos));
                }
            }
        }
        let n = msg.bytes;
        self.drained = n > 0 && n < wanted;
        self.bytes_read += n;
        Ok(n)
    }
}

impl Write for Stamped<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.stream).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_carries_the_kernel_receive_time() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        server.set_nonblocking(true).expect("nonblocking");
        Stamped::enable(&server).expect("timestamps");
        // The kernel turns timestamping on for the whole stack with deferred work
        // (the first socket asking for it); packets before that carry no time.
        std::thread::sleep(Duration::from_millis(100));
        let before = SystemTime::now();
        client.write_all(b"abc").expect("write");
        std::thread::sleep(Duration::from_millis(30));
        let mut cmsg = Stamped::cmsg_buffer();
        let mut io = Stamped::new(&server, &mut cmsg);
        let mut buf = [0u8; 16];
        let n = loop {
            match io.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                    io.drained = false;
                }
                Err(e) => panic!("read: {e}"),
            }
        };
        assert_eq!(&buf[..n], b"abc");
        let (now, system_now) = (Instant::now(), SystemTime::now());
        let waited = now - io.received_at(now, system_now);
        // Arrived after `before` and at least 30 ms before now.
        assert!(waited >= Duration::from_millis(30), "waited {waited:?}");
        let since_before = system_now.duration_since(before).expect("clock");
        assert!(
            waited <= since_before,
            "waited {waited:?}, {since_before:?} since the write"
        );
        // The short read drained the socket: the next one does not ask the kernel.
        client.write_all(b"more").expect("write");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            io.read(&mut buf).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock)
        );
    }
}
