//! WebSocket transport: accepts connections (plain `ws://`, or `wss://` when the zone
//! has a certificate), caps frame sizes before any decoding, runs the handshake, then
//! pumps frames between the socket and the session/outbox.

use std::sync::Arc;
use std::time::Duration;

use arcane_protocol::{KickReason, MAX_CLIENT_FRAME};
use arcane_service::CancellationToken;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::config::ZoneServerConfig;
use crate::metrics::Metrics;
use crate::metrics::kick_label;
use crate::net::outbox::Outbox;
use crate::net::session::{Refusal, Session, SessionContext, kick_frame};

mod conn;
pub mod poller;
mod socket;

use conn::{AsyncConn, Frames};
use poller::{End, Handoff, PollerLink};
use socket::{WsDirect, WsSocket};

/// The kick of a connection whose peer sent nothing for the heartbeat timeout.
fn timed_out() -> Refusal {
    let detail = "nothing received within the heartbeat timeout";
    (KickReason::Timeout, detail.into())
}

/// The kick of a connection whose socket took nothing for `WRITE_TIMEOUT`.
fn stalled() -> Refusal {
    let detail = "the connection stopped taking data";
    (KickReason::SlowClient, detail.into())
}

/// The kick of every connection when the zone stops.
fn shutting_down() -> Refusal {
    (
        KickReason::ServerShutdown,
        "the zone is shutting down".into(),
    )
}

/// How often the server pings an idle connection so dead peers are noticed.
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// Longest a single flush to a client may take before it counts as too slow.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection's byte stream: plain TCP, which the dispatcher may also write
/// snapshots into directly, or TLS, where every byte goes through tungstenite.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Stops the dispatcher's direct writes (the task sends its last frames).
    fn stop_direct(&self) {}
}

impl Stream for WsSocket {
    fn stop_direct(&self) {
        WsSocket::stop_direct(self);
    }
}

impl Stream for tokio_rustls::server::TlsStream<TcpStream> {}

type Ws<S> = WebSocketStream<S>;

/// The TLS side of a `wss://` listener, from the zone's certificate and key.
pub fn tls_acceptor(
    config: &ZoneServerConfig,
) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    let Some((chain, key)) = crate::net::quic::configured_identity(config)? else {
        return Ok(None);
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| anyhow::anyhow!("the certificate and key do not match: {e}"))?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls))))
}

/// Per-connection read buffer: a tick's input and ack frames; a larger frame (up to
/// `MAX_CLIENT_FRAME`) takes a few reads.
const READ_BUFFER: usize = 128;

fn ws_config() -> WebSocketConfig {
    // tungstenite's defaults accept 64 MiB messages; a client never needs more than a
    // few KiB, so anything larger is refused before it is buffered.
    // tungstenite zeroes the read buffer's free part before every read: the 128 KiB
    // default made memset half of the process's CPU at 1,000 clients (BENCHMARKS.md),
    // 4 KiB still cost 1.5 % of the zone's, and 512 bytes (eight cache lines, cold
    // each tick, twice a tick) 0.15 µs per client per tick more than 128 at 1,000.
    WebSocketConfig::default()
        .max_message_size(Some(MAX_CLIENT_FRAME))
        .max_frame_size(Some(MAX_CLIENT_FRAME))
        .read_buffer_size(READ_BUFFER)
}

/// Accepts connections until `shutdown` is cancelled. `slots` are the zone's
/// connection slots, shared with the QUIC transport. With `poller`, plain-TCP
/// connections are served by the tick thread between their handshake and their
/// close (`poller.rs`); TLS ones are always served by their task.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<SessionContext>,
    config: Arc<ZoneServerConfig>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    tls: Option<tokio_rustls::TlsAcceptor>,
    poller: Option<PollerLink>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Usually EMFILE; back off briefly rather than spin.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if let Err(e) = socket2::SockRef::from(&stream).set_send_buffer_size(config.send_buffer) {
            tracing::debug!("cannot set the send buffer: {e}");
        }
        let ctx = ctx.clone();
        let config = config.clone();
        let permit = slots.clone().try_acquire_owned();
        let tls = tls.clone();
        let poller = poller.clone();
        tokio::spawn(async move {
            match (tls, permit, poller) {
                (None, Ok(_permit), Some(poller)) => {
                    handle_polled(stream, poller, ctx, config).await;
                }
                (None, Ok(_permit), None) => {
                    let socket = WsSocket::new(stream);
                    let direct = socket.direct(ctx.metrics.clone());
                    handle_connection(socket, Some(direct), ctx, config).await;
                }
                (None, Err(_), _) => refuse_full(WsSocket::new(stream), ctx, config).await,
                (Some(acceptor), permit, _) => {
                    let accepted = timeout(config.handshake_timeout, acceptor.accept(stream)).await;
                    let Ok(Ok(tls)) = accepted else {
                        ctx.metrics.handshake_failure("tls");
                        tracing::debug!(%peer, "TLS handshake failed");
                        return;
                    };
                    match permit {
                        Ok(_permit) => handle_connection(tls, None, ctx, config).await,
                        Err(_) => refuse_full(tls, ctx, config).await,
                    }
                }
            }
            tracing::trace!(%peer, "connection finished");
        });
    }
}

async fn refuse_full<S: Stream>(
    stream: S,
    ctx: Arc<SessionContext>,
    config: Arc<ZoneServerConfig>,
) {
    if let Ok(Ok(mut ws)) = timeout(
        config.handshake_timeout,
        tokio_tungstenite::accept_async_with_config(stream, Some(ws_config())),
    )
    .await
    {
        ctx.metrics
            .handshake_failure(kick_label(KickReason::ZoneFull));
        send_kick(
            &mut ws,
            (
                KickReason::ZoneFull,
                "the zone has no free connection slots".into(),
            ),
        )
        .await;
    }
}

async fn send_kick<F: Frames>(ws: &mut F, (reason, detail): Refusal) {
    let frame = kick_frame(reason, &detail);
    let close = Message::Close(Some(CloseFrame {
        code: CloseCode::Policy,
        reason: kick_label(reason).into(),
    }));
    let _ = timeout(WRITE_TIMEOUT, async {
        ws.feed_message(Message::Binary(frame)).await?;
        ws.feed_message(close).await?;
        ws.flush_all().await
    })
    .await;
}

fn describe(e: &WsError) -> Option<Refusal> {
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Some((
            KickReason::MalformedPackets,
            format!("frame of {size} bytes exceeds the {max_size} byte limit"),
        )),
        WsError::Capacity(c) => Some((KickReason::MalformedPackets, format!("frame refused: {c}"))),
        WsError::Protocol(p) => Some((
            KickReason::MalformedPackets,
            format!("websocket protocol error: {p}"),
        )),
        _ => None,
    }
}

/// The HTTP upgrade, within the handshake timeout; `None` (counted) when it fails.
async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    socket: S,
    ctx: &SessionContext,
    config: &ZoneServerConfig,
) -> Option<Ws<S>> {
    let upgrade = timeout(
        config.handshake_timeout,
        tokio_tungstenite::accept_async_with_config(socket, Some(ws_config())),
    )
    .await;
    match upgrade {
        Ok(Ok(ws)) => Some(ws),
        Ok(Err(e)) => {
            ctx.metrics.handshake_failure("upgrade");
            tracing::debug!("websocket upgrade failed: {e}");
            None
        }
        Err(_) => {
            ctx.metrics.handshake_failure("timeout");
            None
        }
    }
}

async fn handle_connection<S: Stream>(
    socket: S,
    direct: Option<WsDirect>,
    ctx: Arc<SessionContext>,
    config: Arc<ZoneServerConfig>,
) {
    let Some(mut ws) = upgrade(socket, &ctx, &config).await else {
        return;
    };
    let Some(mut session) = hello_and_join(&mut ws, &ctx, &config).await else {
        return;
    };
    ctx.metrics.connections.inc();
    // From here the dispatcher writes lone snapshots straight into a plain socket.
    if let Some(direct) = direct {
        session.outbox.set_direct(Arc::new(direct));
    }
    // Instrumented, not entered: an entered span held across an await would tag
    // other connections' lines on the same worker with this player.
    let span = tracing::info_span!("session", zone = %ctx.zone_id, player = session.player.0, conn = session.conn, transport = "ws");
    tracing::Instrument::instrument(run_session(ws, &ctx, &mut session, &config), span).await;
    ctx.leave(&session).await;
    ctx.metrics.connections.dec();
}

/// A plain-TCP connection served by the tick thread's poller once it has joined:
/// this task does the handshake and the join, hands the socket over, and takes it
/// back to close it.
async fn handle_polled(
    stream: TcpStream,
    poller: PollerLink,
    ctx: Arc<SessionContext>,
    config: Arc<ZoneServerConfig>,
) {
    let Some(ws) = upgrade(stream, &ctx, &config).await else {
        return;
    };
    // tungstenite's own reader is left behind with its buffer, which holds nothing:
    // a client sends no frame before it has the upgrade's answer (RFC 6455 §4.1).
    let mut conn = AsyncConn::new(ws.into_inner(), ws_config());
    let Some(session) = hello_and_join(&mut conn, &ctx, &config).await else {
        return;
    };
    ctx.metrics.connections.inc();
    let (player, id) = (session.player, session.conn);
    let span = tracing::info_span!("session", zone = %ctx.zone_id, player = player.0, conn = id, transport = "ws");
    let served = match conn.stream.into_std() {
        Ok(stream) => {
            let (back, returned) = tokio::sync::oneshot::channel();
            let handoff = Handoff {
                stream,
                ws: conn.ws,
                session,
                back,
            };
            match poller.send(handoff) {
                Ok(()) => returned.await.ok(),
                // The tick thread is gone: the zone stops.
                Err(std::sync::mpsc::SendError(h)) => Some(poller::Returned {
                    stream: h.stream,
                    ws: h.ws,
                    session: h.session,
                    end: End::Close(shutting_down()),
                }),
            }
        }
        Err(e) => {
            tracing::warn!("cannot take a connection out of the runtime: {e}");
            None
        }
    };
    // Without it, the poller dropped the connection without a word (the process is
    // ending), or the connection never reached the poller.
    if let Some(r) = served {
        let close = async {
            let Ok(stream) = TcpStream::from_std(r.stream) else {
                return;
            };
            let mut conn = AsyncConn { stream, ws: r.ws };
            close_polled(&mut conn, &ctx, &r.session, r.end).await;
        };
        tracing::Instrument::instrument(close, span).await;
    }
    ctx.leave_ids(player, id).await;
    ctx.metrics.connections.dec();
}

/// Ends a connection the poller gave back: answers the peer's close, or sends what
/// the outbox holds and the kick, then waits for the peer's close.
async fn close_polled(conn: &mut AsyncConn, ctx: &SessionContext, session: &Session, end: End) {
    let outbox = &session.outbox;
    match end {
        End::Closed => {
            // The answer to a close frame, queued by tungstenite.
            let _ = timeout(WRITE_TIMEOUT, conn.flush_all()).await;
        }
        End::Close((reason, detail)) => {
            tracing::debug!(reason = kick_label(reason), "closing: {detail}");
            // Counted once: the tick may have closed it already (and counted that).
            if outbox.close(reason, detail) {
                ctx.metrics.kick(reason);
            }
            let _ = timeout(WRITE_TIMEOUT, write_batch(conn, outbox, &ctx.metrics)).await;
            linger(conn).await;
        }
    }
}

/// Reads the client's Hello, checks it and joins the player; a refusal is sent as a
/// kick. `None` when the connection ends here.
async fn hello_and_join<F: Frames>(
    ws: &mut F,
    ctx: &SessionContext,
    config: &ZoneServerConfig,
) -> Option<Session> {
    let first = timeout(config.handshake_timeout, ws.next_message()).await;
    let hello = match first {
        Ok(Some(Ok(Message::Binary(b)))) => {
            ctx.metrics.ws.bytes_received.inc_by(b.len() as u64);
            ctx.metrics.ws.messages_received.inc();
            ctx.check_hello(&b)
        }
        Ok(Some(Ok(_))) => Err((
            KickReason::HandshakeFailed,
            "the first frame must be a binary Hello".into(),
        )),
        Ok(Some(Err(e))) => {
            Err(describe(&e).unwrap_or((KickReason::HandshakeFailed, e.to_string())))
        }
        Ok(None) => return None,
        Err(_) => Err((
            KickReason::Timeout,
            "no Hello within the handshake timeout".into(),
        )),
    };
    let (player, tier, role) = match hello {
        Ok(x) => x,
        Err(refusal) => {
            ctx.refused_handshake(&refusal);
            send_kick(ws, refusal).await;
            return None;
        }
    };
    let session = match ctx.join(player, tier, role).await {
        Ok(s) => s,
        Err(refusal) => {
            ctx.refused_handshake(&refusal);
            send_kick(ws, refusal).await;
            return None;
        }
    };
    Some(session)
}

/// Pumps one connection: frames in, outbox out, and a periodic ping/heartbeat check.
/// One task drives the unsplit stream (no lock between a reader and a writer half),
/// and liveness is checked on the ping tick rather than with a timer per frame.
async fn run_session<S: Stream>(
    mut ws: Ws<S>,
    ctx: &SessionContext,
    session: &mut Session,
    config: &ZoneServerConfig,
) {
    let outbox = session.outbox.clone();
    let metrics = ctx.metrics.clone();
    let mut ping = tokio::time::interval(PING_INTERVAL.min(config.heartbeat_timeout / 2));
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = tokio::time::Instant::now();
    // One waiter for the outbox across iterations: an input frame (most wakes) neither
    // drops nor re-registers it, and `biased` takes the frame without polling the
    // outbox or the ping timer at all. tokio's cooperative budget makes a flooding
    // socket yield, so the other branches still get their turn.
    let mut pending = std::pin::pin!(outbox.ready());
    let refusal: Option<Refusal> = loop {
        tokio::select! {
            biased;
            incoming = ws.next() => {
                let m = match incoming {
                    None => break None,
                    Some(Err(e)) => break describe(&e),
                    Some(Ok(m)) => m,
                };
                last_heard = tokio::time::Instant::now();
                match m {
                    Message::Binary(b) => {
                        metrics.ws.bytes_received.inc_by(b.len() as u64);
                        metrics.ws.messages_received.inc();
                        if let Err(r) = ctx.on_frame(session, &b) {
                            break Some(r);
                        }
                    }
                    Message::Text(_) => {
                        if let Err(r) = ctx.on_malformed(session) {
                            break Some(r);
                        }
                    }
                    Message::Close(_) => {
                        // Answer it (the reply is queued by the library and goes out
                        // with a flush), so the client sees a clean close, not 1006.
                        let _ = timeout(WRITE_TIMEOUT, ws.flush()).await;
                        return;
                    }
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            _ = pending.as_mut() => {
                pending.set(outbox.ready());
                match write_batch(&mut ws, &outbox, &metrics).await {
                    WriteResult::Open => {}
                    WriteResult::Closed => {
                        linger(&mut ws).await;
                        return;
                    }
                    WriteResult::Stalled => break Some(stalled()),
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > config.heartbeat_timeout {
                    break Some(timed_out());
                }
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    };
    // The last frames (a kick, a close) are the task's: nothing may follow them.
    ws.get_ref().stop_direct();
    if let Some((reason, detail)) = refusal {
        tracing::debug!(reason = kick_label(reason), "closing: {detail}");
        // Counted once: the tick may have closed it already (and counted that).
        if outbox.close(reason, detail) {
            metrics.kick(reason);
        }
        // Deliver what is pending and the kick, but never wait long for it: a client
        // that stopped reading gets it if its socket takes it within the timeout.
        let _ = timeout(WRITE_TIMEOUT, write_batch(&mut ws, &outbox, &metrics)).await;
        linger(&mut ws).await;
    }
}

/// How long a closing connection waits for the client's close reply.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// After the kick and the close frame: reads (and drops) what the client still sends
/// until it closes too, for at most `CLOSE_LINGER`. Closing a socket with unread input
/// (a client's pongs, its last inputs) makes the kernel send a reset, which throws away
/// the kick still in the send buffer.
async fn linger<F: Frames>(ws: &mut F) {
    let _ = timeout(CLOSE_LINGER, async {
        while let Some(Ok(_)) = ws.next_message().await {}
    })
    .await;
}

enum WriteResult {
    Open,
    /// The connection is closed (a kick went out, or the socket failed).
    Closed,
    /// A write did not complete within `WRITE_TIMEOUT`: the client stopped reading.
    Stalled,
}

/// Sends everything pending in the outbox (reliable frames, then the newest snapshot,
/// then a kick and close if one was requested) with one flush.
async fn write_batch<F: Frames>(ws: &mut F, outbox: &Outbox, metrics: &Metrics) -> WriteResult {
    let batch = outbox.take();
    let mut sent = 0u64;
    let mut frames = 0u64;
    let write = async {
        if let Some(s) = &batch.snapshot {
            // Observed here, on the I/O thread, rather than per client on the tick.
            metrics.snapshot_size.observe(s.len() as f64);
        }
        for b in batch.reliable.into_iter().chain(batch.snapshot) {
            sent += b.len() as u64;
            frames += 1;
            ws.feed_message(Message::Binary(b)).await?;
        }
        if let Some((reason, detail)) = &batch.close {
            let frame = kick_frame(*reason, detail);
            sent += frame.len() as u64;
            frames += 1;
            ws.feed_message(Message::Binary(frame)).await?;
            ws.feed_message(Message::Close(Some(CloseFrame {
                code: CloseCode::Policy,
                reason: kick_label(*reason).into(),
            })))
            .await?;
        }
        ws.flush_all().await
    };
    let result = timeout(WRITE_TIMEOUT, write).await;
    metrics.ws.bytes_sent.inc_by(sent);
    metrics.ws.messages_sent.inc_by(frames);
    match result {
        Ok(Ok(())) if batch.close.is_none() => WriteResult::Open,
        Ok(Ok(())) | Ok(Err(_)) => WriteResult::Closed,
        // Already closing: the kick was counted where it was decided.
        Err(_) if batch.close.is_some() => WriteResult::Closed,
        Err(_) => WriteResult::Stalled,
    }
}
