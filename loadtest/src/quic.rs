//! The client side of the QUIC transport (quinn): one stream of length-prefixed
//! frames for reliable messages, snapshots as datagrams with a sequence header (from
//! which loss is counted), and certificate pinning for zones with self-signed
//! certificates (`quic://host:port?sha256=<hex>`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use arcane_protocol::codec::decode_server_message;
use arcane_protocol::{DATAGRAM_HEADER, MAX_CLIENT_FRAME, MAX_SERVER_FRAME, QUIC_ALPN};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use quinn::{Connection, RecvStream, SendStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

use crate::client::Incoming;

/// Snapshot datagrams one connection received, and the gaps in their sequence
/// numbers (datagrams lost on the way, or still reordered in flight).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatagramCount {
    pub received: u64,
    pub lost: u64,
}

/// Counts datagrams from their sequence numbers (1, 2, 3… per connection): a late,
/// reordered datagram fills the gap it had opened.
#[derive(Debug, Default)]
struct SeqTracker {
    highest: u32,
    received: u64,
}

impl SeqTracker {
    fn see(&mut self, seq: u32) -> DatagramCount {
        self.received += 1;
        self.highest = self.highest.max(seq);
        DatagramCount {
            received: self.received,
            lost: u64::from(self.highest).saturating_sub(self.received),
        }
    }
}

/// The endpoint's address, host name and pinned certificate hash.
struct Target {
    addr: SocketAddr,
    host: String,
    sha256: Option<String>,
}

fn parse(url: &str) -> anyhow::Result<Target> {
    let rest = url
        .strip_prefix("quic://")
        .context("a QUIC endpoint starts with quic://")?;
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.trim_end_matches('/');
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority}"))?
        .next()
        .with_context(|| format!("{authority} has no address"))?;
    let host = match authority.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
        None => authority.to_string(),
    };
    let sha256 = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("sha256="))
        .map(str::to_ascii_lowercase);
    if let Some(h) = &sha256
        && (h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        bail!("sha256 in {url} is not a 64-digit hex hash");
    }
    Ok(Target { addr, host, sha256 })
}

/// Accepts exactly the certificate whose SHA-256 is pinned, and checks the handshake
/// signatures with it (so the peer must hold its key).
#[derive(Debug)]
struct Pinned {
    sha256: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = arcane_protocol::cert_sha256(end_entity.as_ref());
        if got == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate sha256 {got} is not the pinned {}",
                self.sha256
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// TLS for one target: pinned when the endpoint carries a hash, otherwise verified
/// against the CA certificates in the PEM file named by `ARCANE_QUIC_CA`.
fn tls(target: &Target) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut config = match &target.sha256 {
        Some(sha256) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                sha256: sha256.clone(),
                provider,
            }))
            .with_no_client_auth(),
        None => {
            use rustls::pki_types::pem::PemObject;
            let path = std::env::var("ARCANE_QUIC_CA").context(
                "the endpoint pins no certificate (sha256=…); set ARCANE_QUIC_CA to a PEM file of trusted CAs",
            )?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&path)
                .with_context(|| format!("cannot read {path}"))?
            {
                roots.add(cert.with_context(|| format!("bad certificate in {path}"))?)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![QUIC_ALPN.to_vec()];
    Ok(config)
}

fn codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(max)
        .new_codec()
}

/// A connected QUIC client.
pub struct QuicLink {
    conn: Connection,
    send: FramedWrite<SendStream, LengthDelimitedCodec>,
    recv: FramedRead<RecvStream, LengthDelimitedCodec>,
    seq: SeqTracker,
    pub count: DatagramCount,
    /// Keeps the UDP socket's driver alive for the connection's lifetime.
    endpoint: quinn::Endpoint,
    /// The endpoint is this link's own (closed with it), not shared.
    owns_endpoint: bool,
}

/// A client UDP endpoint many connections can share (a bot swarm): one socket and
/// one driver instead of one each. Must be made inside the runtime that uses it.
pub fn shared_endpoint() -> anyhow::Result<quinn::Endpoint> {
    quinn::Endpoint::client("0.0.0.0:0".parse()?).context("cannot open a UDP socket")
}

impl QuicLink {
    /// Connects to `quic://host:port[?sha256=…]` and opens the session's stream, from
    /// `via` when given (a shared endpoint) or from a UDP socket of its own.
    pub async fn connect(url: &str, via: Option<&quinn::Endpoint>) -> anyhow::Result<QuicLink> {
        let target = parse(url)?;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls(&target)?)?;
        let mut client = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .keep_alive_interval(Some(Duration::from_secs(5)))
            .max_idle_timeout(Some(quinn::IdleTimeout::try_from(Duration::from_secs(15))?))
            .datagram_receive_buffer_size(Some(256 * 1024));
        client.transport_config(Arc::new(transport));
        let bind: SocketAddr = if target.addr.is_ipv6() {
            "[::]:0".parse()?
        } else {
            "0.0.0.0:0".parse()?
        };
        let (endpoint, owns_endpoint) = match via {
            Some(e) if !target.addr.is_ipv6() => (e.clone(), false),
            _ => (
                quinn::Endpoint::client(bind).context("cannot open a UDP socket")?,
                true,
            ),
        };
        let conn = endpoint
            .connect_with(client, target.addr, &target.host)?
            .await
            .with_context(|| format!("QUIC handshake with {} failed", target.addr))?;
        let (send, recv) = conn.open_bi().await.context("cannot open the stream")?;
        Ok(QuicLink {
            conn,
            send: FramedWrite::new(send, codec(MAX_CLIENT_FRAME)),
            recv: FramedRead::new(recv, codec(MAX_SERVER_FRAME)),
            seq: SeqTracker::default(),
            count: DatagramCount::default(),
            endpoint,
            owns_endpoint,
        })
    }

    /// Sends one client frame: as a datagram when `unreliable` and it fits, else on
    /// the stream.
    pub async fn send(&mut self, frame: Bytes, unreliable: bool) -> anyhow::Result<()> {
        let fits = self
            .conn
            .max_datagram_size()
            .is_some_and(|max| frame.len() <= max);
        if unreliable && fits {
            self.conn.send_datagram(frame)?;
        } else {
            self.send.send(frame).await?;
        }
        Ok(())
    }

    /// Writes `bytes` as one stream frame without the client's own size check (fault
    /// injection: the server must refuse it).
    pub async fn send_unchecked(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let stream = self.send.get_mut();
        stream
            .write_all(&(bytes.len() as u32).to_be_bytes())
            .await?;
        stream.write_all(bytes).await?;
        Ok(())
    }

    /// The next server message from the stream or a datagram, or the close.
    pub async fn recv(&mut self) -> Incoming {
        tokio::select! {
            frame = self.recv.next() => match frame {
                Some(Ok(b)) => match decode_server_message(&b) {
                    Ok(m) => Incoming::Message(m, b.len()),
                    Err(e) => Incoming::Malformed(e.to_string()),
                },
                // The codec refuses a bad frame as InvalidData; any other error is
                // the connection going away (lost, reset, timed out), not bad bytes.
                Some(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                    Incoming::Malformed(format!("stream frame: {e}"))
                }
                Some(Err(_)) => Incoming::Closed(self.close_reason().await),
                None => Incoming::Closed(self.close_reason().await),
            },
            d = self.conn.read_datagram() => match d {
                Ok(d) if d.len() > DATAGRAM_HEADER => {
                    let seq = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                    self.count = self.seq.see(seq);
                    match decode_server_message(&d[DATAGRAM_HEADER..]) {
                        Ok(m) => Incoming::Message(m, d.len()),
                        Err(e) => Incoming::Malformed(e.to_string()),
                    }
                }
                Ok(_) => Incoming::Malformed("datagram shorter than its header".into()),
                Err(_) => Incoming::Closed(self.close_reason().await),
            },
        }
    }

    /// The reason the server gave when it closed the connection (its kick label).
    async fn close_reason(&self) -> Option<String> {
        let e = tokio::time::timeout(Duration::from_secs(2), self.conn.closed())
            .await
            .ok()?;
        match e {
            quinn::ConnectionError::ApplicationClosed(c) => {
                Some(String::from_utf8_lossy(&c.reason).into_owned())
            }
            other => Some(format!("error: {other}")),
        }
    }

    pub async fn close(mut self) {
        let _ = self.send.get_mut().finish();
        self.conn.close(0u32.into(), b"bye");
        if self.owns_endpoint {
            let _ =
                tokio::time::timeout(Duration::from_millis(200), self.endpoint.wait_idle()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_and_without_a_pin() {
        let h = "ab".repeat(32);
        let t = parse(&format!("quic://127.0.0.1:7778?sha256={h}")).unwrap();
        assert_eq!(t.addr, "127.0.0.1:7778".parse().unwrap());
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.sha256.as_deref(), Some(h.as_str()));
        let t = parse("quic://[::1]:9000").unwrap();
        assert_eq!(t.host, "::1");
        assert!(t.sha256.is_none());
        assert!(parse("quic://127.0.0.1:1?sha256=zz").is_err());
        assert!(parse("ws://127.0.0.1:1").is_err());
    }

    #[test]
    fn gaps_in_datagram_sequence_numbers_count_as_loss_until_filled() {
        let mut t = SeqTracker::default();
        t.see(1);
        let c = t.see(4);
        assert_eq!(
            c,
            DatagramCount {
                received: 2,
                lost: 2
            }
        );
        // 3 was only reordered.
        let c = t.see(3);
        assert_eq!(
            c,
            DatagramCount {
                received: 3,
                lost: 1
            }
        );
    }
}
