//! QUIC transport (quinn): the same sessions as WebSocket over another carrier.
//! Snapshots go out as unreliable datagrams (a lost one is harmless: the next delta is
//! against an acknowledged baseline), everything reliable on one bidirectional stream
//! of length-prefixed frames; a snapshot too big for a datagram takes the stream.
//! Clients may send input/ack-only frames as datagrams. See `PROTOCOL.md`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use arcane_protocol::{DATAGRAM_HEADER, KickReason, MAX_CLIENT_FRAME, QUIC_ALPN};
use bytes::{BufMut, BytesMut};
use futures_util::{SinkExt, StreamExt};
use quinn::{Connection, RecvStream, SendStream, VarInt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::{Semaphore, watch};
use tokio::time::timeout;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

use crate::config::ZoneServerConfig;
use crate::metrics::{Metrics, kick_label};
use crate::outbox::{DirectSend, DirectSnapshots};
use crate::session::{Refusal, Session, SessionContext, kick_frame};

/// Longest a write on the reliable stream may take before the client counts as slow.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a connection's QUIC loss statistics are folded into the metrics.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// How long a kicked client gets to read the kick before the connection is closed.
const KICK_READ_GRACE: Duration = Duration::from_secs(1);
/// Application close code (every kick uses it; the reason label says which).
const KICK_CODE: u32 = 1;

/// The framing of the reliable stream, for either direction: a 4-byte big-endian
/// length, then the frame. `max` bounds what is accepted before anything is buffered.
pub fn stream_codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(max)
        .new_codec()
}

/// A bound QUIC endpoint and the address clients are told to use.
pub struct QuicListener {
    pub endpoint: quinn::Endpoint,
    pub local_addr: SocketAddr,
    /// `quic://host:port`, with `?sha256=<hex>` when the certificate is self-signed.
    pub public_endpoint: String,
}

/// The TLS identity: the configured certificate and key, or a fresh self-signed one
/// (then also its hash for the endpoint).
fn identity(
    config: &ZoneServerConfig,
) -> anyhow::Result<(
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
    Option<String>,
)> {
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("cannot read the certificate {}", cert.display()))?;
        anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
        let key = PrivateKeyDer::from_pem_file(key)
            .with_context(|| format!("cannot read the private key {}", key.display()))?;
        return Ok((chain, key, None));
    }
    let names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let made = rcgen::generate_simple_self_signed(names).context("cannot make a certificate")?;
    let der = made.cert.der().clone();
    let hash = arcane_protocol::cert_sha256(&der);
    let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()).into();
    Ok((vec![der], key, Some(hash)))
}

/// Binds the QUIC endpoint of a zone.
pub fn bind(config: &ZoneServerConfig) -> anyhow::Result<QuicListener> {
    let (chain, key, pin) = identity(config)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and key do not match")?;
    tls.alpn_protocols = vec![QUIC_ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(config.heartbeat_timeout).context("heartbeat timeout")?,
        ))
        // Clients open one stream; nobody needs more.
        .max_concurrent_bidi_streams(1u32.into())
        .max_concurrent_uni_streams(0u32.into())
        // A few client frames of datagrams; snapshots out: about a second's worth.
        .datagram_receive_buffer_size(Some(16 * MAX_CLIENT_FRAME))
        .datagram_send_buffer_size(64 * 1024);
    server.transport_config(Arc::new(transport));
    let endpoint = quinn::Endpoint::server(server, config.quic_addr)
        .with_context(|| format!("cannot listen on udp {}", config.quic_addr))?;
    let local_addr = endpoint.local_addr()?;
    // Clients pin a self-signed certificate by its hash, also behind a public address.
    let public_endpoint = match (config.public_quic_endpoint.clone(), pin) {
        (Some(p), Some(hash)) if !p.contains('?') => format!("{p}?sha256={hash}"),
        (Some(p), _) => p,
        (None, Some(hash)) => format!("quic://{local_addr}?sha256={hash}"),
        (None, None) => format!("quic://{local_addr}"),
    };
    Ok(QuicListener {
        endpoint,
        local_addr,
        public_endpoint,
    })
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: QuicListener,
    ctx: Arc<SessionContext>,
    config: Arc<ZoneServerConfig>,
    slots: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let endpoint = listener.endpoint;
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => i,
            _ = shutdown.changed() => break,
        };
        let Some(incoming) = incoming else { break };
        let ctx = ctx.clone();
        let config = config.clone();
        let permit = slots.clone().try_acquire_owned();
        tokio::spawn(async move {
            let conn = match timeout(config.handshake_timeout, incoming).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    ctx.metrics.handshake_failure("tls");
                    tracing::debug!("quic handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    ctx.metrics.handshake_failure("timeout");
                    return;
                }
            };
            match permit {
                Ok(_permit) => handle_connection(conn, ctx, config).await,
                Err(_) => {
                    ctx.metrics
                        .handshake_failure(kick_label(KickReason::ZoneFull));
                    close_with(
                        &conn,
                        None,
                        (
                            KickReason::ZoneFull,
                            "the zone has no free connection slots".into(),
                        ),
                    )
                    .await;
                }
            }
        });
    }
    // Sessions deliver their shutdown kicks and close themselves; whoever is still
    // connected after a moment is closed with the reason, and the closes sent.
    endpoint.set_server_config(None);
    let _ = timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    endpoint.close(VarInt::from_u32(KICK_CODE), b"server_shutdown");
    let _ = timeout(Duration::from_millis(200), endpoint.wait_idle()).await;
}

/// Writes a kick on the stream (when there is one) and closes the connection with it.
async fn close_with(conn: &Connection, send: Option<&mut Writer>, (reason, detail): Refusal) {
    if let Some(w) = send {
        let _ = timeout(
            WRITE_TIMEOUT,
            SinkExt::<bytes::Bytes>::send(w, kick_frame(reason, &detail)),
        )
        .await;
        let _ = w.get_mut().finish();
        // A client cannot read stream data once the connection is closed, even data
        // its transport already acknowledged: give it time to read the kick (a
        // client closes its side when its stream ends) before closing with the reason.
        let _ = timeout(KICK_READ_GRACE, conn.closed()).await;
    }
    conn.close(VarInt::from_u32(KICK_CODE), kick_label(reason).as_bytes());
}

/// A connection's snapshot datagrams: a [`DATAGRAM_HEADER`] sequence number (so a
/// client can count losses), then the frame. Sent by the dispatcher directly, or by the
/// session when it has reliable frames to send too.
struct SnapshotDatagrams {
    conn: Connection,
    seq: AtomicU32,
    metrics: Arc<Metrics>,
}

impl DirectSnapshots for SnapshotDatagrams {
    fn max_len(&self) -> usize {
        self.conn
            .max_datagram_size()
            .unwrap_or(0)
            .saturating_sub(DATAGRAM_HEADER)
    }

    fn send(&self, snapshot: bytes::Bytes) -> DirectSend {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let mut d = BytesMut::with_capacity(DATAGRAM_HEADER + snapshot.len());
        d.put_u32(seq);
        d.put_slice(&snapshot);
        let m = &self.metrics;
        m.snapshot_size.observe(snapshot.len() as f64);
        m.quic.bytes_sent.inc_by(snapshot.len() as u64);
        m.quic.messages_sent.inc();
        // Never blocks: when the send buffer is full quinn drops the oldest datagram,
        // which the baseline scheme absorbs.
        if self.conn.send_datagram(d.freeze()).is_ok() {
            m.snapshot_datagrams.inc();
        }
        DirectSend::Sent
    }
}

type Writer = FramedWrite<SendStream, LengthDelimitedCodec>;
type Reader = FramedRead<RecvStream, LengthDelimitedCodec>;

async fn handle_connection(
    conn: Connection,
    ctx: Arc<SessionContext>,
    config: Arc<ZoneServerConfig>,
) {
    let opened = timeout(config.handshake_timeout, conn.accept_bi()).await;
    let (send, recv) = match opened {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => return,
        Err(_) => {
            ctx.metrics.handshake_failure("timeout");
            conn.close(VarInt::from_u32(KICK_CODE), b"timeout");
            return;
        }
    };
    let mut writer = FramedWrite::new(send, stream_codec(arcane_protocol::MAX_SERVER_FRAME));
    let mut reader = FramedRead::new(recv, stream_codec(MAX_CLIENT_FRAME));
    let first = timeout(config.handshake_timeout, reader.next()).await;
    let hello = match first {
        Ok(Some(Ok(frame))) => {
            ctx.metrics.quic.bytes_received.inc_by(frame.len() as u64);
            ctx.metrics.quic.messages_received.inc();
            ctx.check_hello(&frame)
        }
        Ok(Some(Err(e))) => Err((
            KickReason::MalformedPackets,
            format!("first frame refused: {e}"),
        )),
        Ok(None) => return,
        Err(_) => Err((
            KickReason::Timeout,
            "no Hello within the handshake timeout".into(),
        )),
    };
    let joined = match hello {
        Ok((player, tier, role)) => ctx.join(player, tier, role).await,
        Err(r) => Err(r),
    };
    let mut session = match joined {
        Ok(s) => s,
        Err(refusal) => {
            tracing::debug!(
                reason = kick_label(refusal.0),
                "quic handshake refused: {}",
                refusal.1
            );
            ctx.metrics.handshake_failure(kick_label(refusal.0));
            close_with(&conn, Some(&mut writer), refusal).await;
            return;
        }
    };
    ctx.metrics.connections.inc();
    // Instrumented, not entered (see ws.rs).
    let span = tracing::info_span!(
        "session",
        zone = %ctx.zone_id,
        player = session.player.0,
        conn = session.conn,
        transport = "quic"
    );
    tracing::Instrument::instrument(run_session(&conn, writer, reader, &ctx, &mut session), span)
        .await;
    ctx.leave(&session).await;
    ctx.metrics.connections.dec();
}

/// Folds a connection's QUIC statistics into the metrics as deltas.
struct StatsSeen {
    sent_packets: u64,
    lost_packets: u64,
}

impl StatsSeen {
    fn fold(&mut self, conn: &Connection, metrics: &Metrics) {
        let path = conn.stats().path;
        metrics
            .quic_packets_sent
            .inc_by(path.sent_packets.saturating_sub(self.sent_packets));
        metrics
            .quic_packets_lost
            .inc_by(path.lost_packets.saturating_sub(self.lost_packets));
        self.sent_packets = self.sent_packets.max(path.sent_packets);
        self.lost_packets = self.lost_packets.max(path.lost_packets);
    }
}

async fn run_session(
    conn: &Connection,
    mut writer: Writer,
    mut reader: Reader,
    ctx: &SessionContext,
    session: &mut Session,
) {
    let outbox = session.outbox.clone();
    let metrics = ctx.metrics.clone();
    let datagrams = Arc::new(SnapshotDatagrams {
        conn: conn.clone(),
        seq: AtomicU32::new(0),
        metrics: metrics.clone(),
    });
    outbox.set_direct(datagrams.clone());
    let mut stats = StatsSeen {
        sent_packets: 0,
        lost_packets: 0,
    };
    let mut stats_tick = tokio::time::interval(STATS_EVERY);
    let refusal: Option<Refusal> = loop {
        tokio::select! {
            // Biased, in this order: the common wake (an input datagram) then polls
            // neither the stream nor the timer, and the outbox (rare: snapshots go out
            // from the dispatcher) cannot starve behind a busy datagram queue.
            biased;
            _ = outbox.ready() => {
                let mut batch = outbox.take();
                let mut on_stream = std::mem::take(&mut batch.reliable);
                if let Some(s) = batch.snapshot.take() {
                    if s.len() <= datagrams.max_len() {
                        datagrams.send(s);
                    } else {
                        metrics.snapshot_stream_fallbacks.inc();
                        metrics.snapshot_size.observe(s.len() as f64);
                        on_stream.push(s);
                    }
                }
                if !on_stream.is_empty() {
                    let sent: usize = on_stream.iter().map(|b| b.len()).sum();
                    metrics.quic.bytes_sent.inc_by(sent as u64);
                    metrics.quic.messages_sent.inc_by(on_stream.len() as u64);
                    let write = async {
                        for b in on_stream {
                            writer.feed(b).await?;
                        }
                        <Writer as SinkExt<bytes::Bytes>>::flush(&mut writer).await
                    };
                    match timeout(WRITE_TIMEOUT, write).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break None,
                        Err(_) => break Some((KickReason::SlowClient, "the reliable stream stalled".into())),
                    }
                }
                if let Some(close) = batch.close {
                    stats.fold(conn, &metrics);
                    close_with(conn, Some(&mut writer), close).await;
                    return;
                }
            }
            d = conn.read_datagram() => match d {
                Err(_) => break None,
                Ok(frame) => {
                    metrics.quic.bytes_received.inc_by(frame.len() as u64);
                    metrics.quic.messages_received.inc();
                    let r = if frame.len() > MAX_CLIENT_FRAME {
                        ctx.on_malformed(session)
                    } else {
                        ctx.on_frame(session, &frame)
                    };
                    if let Err(r) = r {
                        break Some(r);
                    }
                }
            },
            frame = reader.next() => match frame {
                None => break None,
                Some(Err(e)) => {
                    break Some((KickReason::MalformedPackets, format!("stream frame refused: {e}")));
                }
                Some(Ok(frame)) => {
                    metrics.quic.bytes_received.inc_by(frame.len() as u64);
                    metrics.quic.messages_received.inc();
                    if let Err(r) = ctx.on_frame(session, &frame) {
                        break Some(r);
                    }
                }
            },
            _ = stats_tick.tick() => stats.fold(conn, &metrics),
        }
    };
    stats.fold(conn, &metrics);
    match refusal {
        Some(r) => {
            tracing::debug!(reason = kick_label(r.0), "closing: {}", r.1);
            metrics.kick(r.0);
            close_with(conn, Some(&mut writer), r).await;
        }
        None => conn.close(VarInt::from_u32(0), b"closed"),
    }
}
