//! PROTOCOL.md is what clients in other languages are written from: every place it
//! states the protocol version (the title, the QUIC ALPN, the `Hello` row) must say
//! the version this crate speaks, or a client built from it is refused at `Hello`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use arcane_protocol::{PROTOCOL_VERSION, QUIC_ALPN};

#[test]
fn the_documented_protocol_version_is_the_one_the_code_speaks() {
    let doc = include_str!("../PROTOCOL.md");
    let v = PROTOCOL_VERSION;
    let title = doc.lines().next().unwrap();
    assert_eq!(title, format!("# Arcane Realms wire protocol, version {v}"));
    let alpn = std::str::from_utf8(QUIC_ALPN).unwrap();
    assert!(
        doc.contains(&format!("ALPN `{alpn}`")),
        "ALPN {alpn} is not documented"
    );
    let hello = doc
        .lines()
        .find(|l| l.starts_with("| 0 | `Hello` |"))
        .expect("no Hello row");
    assert!(
        hello.contains(&format!("`protocol_version: u16` (= {v})")),
        "the Hello row does not say version {v}: {hello}"
    );
}
