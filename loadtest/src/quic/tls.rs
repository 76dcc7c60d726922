//! Where a QUIC endpoint is and whom to trust there: `quic://host:port[?sha256=<hex>]`,
//! the certificate pinned by hash for zones with self-signed certificates, otherwise
//! the CAs in `ARCANE_QUIC_CA`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use arcane_protocol::QUIC_ALPN;
use quinn_proto::{ClientConfig, IdleTimeout, TransportConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The endpoint's address, host name and pinned certificate hash.
pub(super) struct Target {
    pub(super) addr: SocketAddr,
    pub(super) host: String,
    pub(super) sha256: Option<String>,
}

pub(super) fn parse(url: &str) -> anyhow::Result<Target> {
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

/// The QUIC client configuration for one target.
pub(super) fn client_config(target: &Target) -> anyhow::Result<ClientConfig> {
    let crypto = quinn_proto::crypto::rustls::QuicClientConfig::try_from(tls(target)?)?;
    let mut client = ClientConfig::new(Arc::new(crypto));
    let mut transport = TransportConfig::default();
    transport
        .keep_alive_interval(Some(Duration::from_secs(5)))
        .max_idle_timeout(Some(IdleTimeout::try_from(Duration::from_secs(15))?))
        .datagram_receive_buffer_size(Some(256 * 1024));
    client.transport_config(Arc::new(transport));
    Ok(client)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
}
