//! Setting the QUIC endpoint up: the TLS identity (configured, or a fresh self-signed
//! certificate pinned by hash), the transport limits, the UDP socket.

use std::sync::Arc;

use anyhow::Context as _;
use arcane_protocol::{MAX_CLIENT_FRAME, QUIC_ALPN};
use arcane_quic_io::UdpIo;
use quinn_proto::crypto::rustls::QuicServerConfig;
use quinn_proto::{IdleTimeout, ServerConfig, TransportConfig, VarInt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::ZoneServerConfig;

/// Socket buffers asked of the kernel: a tick's burst of a thousand snapshot
/// datagrams, or a second of inputs, fits without a drop.
const SOCKET_BUFFER: usize = 4 << 20;

/// A bound QUIC endpoint and the address clients are told to use.
pub struct QuicListener {
    pub io: UdpIo,
    pub server_config: Arc<ServerConfig>,
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
    if let Some((chain, key)) = configured_identity(config)? {
        return Ok((chain, key, None));
    }
    let names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let made = rcgen::generate_simple_self_signed(names).context("cannot make a certificate")?;
    let der = made.cert.der().clone();
    let hash = arcane_protocol::cert_sha256(&der);
    let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()).into();
    Ok((vec![der], key, Some(hash)))
}

/// The certificate chain and key of `--tls-cert`/`--tls-key`, when given (QUIC and
/// `wss://` share them).
pub fn configured_identity(
    config: &ZoneServerConfig,
) -> anyhow::Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificate {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the private key {}", key.display()))?;
    Ok(Some((chain, key)))
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
    let crypto = QuicServerConfig::try_from(tls)?;
    let mut server = ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = TransportConfig::default();
    // What a client may have in flight towards us: a few of its frames. The zone
    // buffers no more than this per connection, whatever the client sends.
    let window = VarInt::from_u32(16 * MAX_CLIENT_FRAME as u32);
    transport
        .max_idle_timeout(Some(
            IdleTimeout::try_from(config.heartbeat_timeout).context("heartbeat timeout")?,
        ))
        // Clients open one stream; nobody needs more.
        .max_concurrent_bidi_streams(1u32.into())
        .max_concurrent_uni_streams(0u32.into())
        .stream_receive_window(window)
        .receive_window(window)
        // A few client frames of datagrams; snapshots out: about a second's worth.
        .datagram_receive_buffer_size(Some(16 * MAX_CLIENT_FRAME))
        .datagram_send_buffer_size(64 * 1024);
    server.transport_config(Arc::new(transport));
    let socket = std::net::UdpSocket::bind(config.quic_addr)
        .with_context(|| format!("cannot listen on udp {}", config.quic_addr))?;
    let io = UdpIo::new(socket, SOCKET_BUFFER).context("cannot set up the UDP socket")?;
    let local_addr = io.local_addr()?;
    // Clients pin a self-signed certificate by its hash, also behind a public address.
    let public_endpoint = match (config.public_quic_endpoint.clone(), pin) {
        (Some(p), Some(hash)) if !p.contains('?') => format!("{p}?sha256={hash}"),
        (Some(p), _) => p,
        (None, Some(hash)) => format!("quic://{local_addr}?sha256={hash}"),
        (None, None) => format!("quic://{local_addr}"),
    };
    Ok(QuicListener {
        io,
        server_config: Arc::new(server),
        public_endpoint,
    })
}
