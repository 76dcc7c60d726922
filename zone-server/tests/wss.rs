//! `wss://`: a zone given a certificate (`--tls-cert`/`--tls-key`) serves WebSocket
//! over TLS, as a browser on an https page needs; a client that trusts the certificate
//! plays, and one that speaks plain `ws://` to it is turned away without harm.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::sync::Arc;
use std::time::Duration;

use arcane_protocol::codec::{decode_server_message, encode_client_frame};
use arcane_protocol::{ClientMessage, ClientTier, Hello, PROTOCOL_VERSION, ServerMessage};
use arcane_zone_server::ZoneServerConfig;
use arcane_zone_server::config::DEV_TICKET_SECRET;
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::{now_unix, ticket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_with_a_certificate_serves_wss() {
    let content = support::content_with("wss", &[]);
    let certs = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert_path, made.cert.pem()).unwrap();
    std::fs::write(&key_path, made.signing_key.serialize_pem()).unwrap();
    let mut config = ZoneServerConfig::local(content.path().to_path_buf(), "test_area");
    config.watch_content = false;
    config.quic = false;
    config.tls_cert = Some(cert_path);
    config.tls_key = Some(key_path);
    let zone = arcane_zone_server::start(config).await.unwrap();

    // Plain ws:// against the TLS listener: refused, nothing breaks.
    let plain = timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(format!("ws://{}", zone.ws_addr)),
    )
    .await
    .unwrap();
    assert!(
        plain.is_err(),
        "a plain WebSocket upgrade succeeded on the wss listener"
    );

    // A client that trusts the certificate plays over wss://.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(made.cert.der().to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(zone.ws_addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let url = format!("wss://localhost:{}", zone.ws_addr.port());
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let hello = ClientMessage::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        ticket: ticket(1, "test_area", DEV_TICKET_SECRET, now_unix() + 60),
        tier: ClientTier::Desktop,
    });
    let mut frame = Vec::new();
    encode_client_frame(&[hello], &mut frame).unwrap();
    ws.send(Message::Binary(frame.into())).await.unwrap();
    let mut welcomed = false;
    let mut snapshots = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while snapshots < 3 {
        let m = timeout(deadline - tokio::time::Instant::now(), ws.next())
            .await
            .expect("no frames over wss")
            .unwrap()
            .unwrap();
        if let Message::Binary(b) = m {
            match decode_server_message(&b).unwrap() {
                ServerMessage::Welcome(_) => welcomed = true,
                ServerMessage::Snapshot(_) => snapshots += 1,
                _ => {}
            }
        }
    }
    assert!(welcomed);
    zone.shutdown();
    zone.wait().await;
}
