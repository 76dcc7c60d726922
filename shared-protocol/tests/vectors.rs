//! Conformance vectors: golden frames of every message kind, delta snapshot sequences
//! with the view each one yields, and malformed frames, written to
//! `vectors/v<PROTOCOL_VERSION>.json` for client ports in other languages (the JS SDK's
//! tests read the same file). The test fails when the file differs from what the code
//! encodes; `ARCANE_WRITE_VECTORS=1 cargo test -p arcane-protocol --test vectors`
//! rewrites it after a deliberate protocol change (which also bumps the version).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use arcane_protocol::codec::{
    decode_client_frame, decode_server_message, encode_client_frame, encode_server_message,
};
use arcane_protocol::ticket::{Role, TicketClaims, TicketKey};
use arcane_protocol::view::ClientView;
use arcane_protocol::*;
use serde_json::{Value, json};

#[path = "vectors/cases.rs"]
mod cases;
use cases::{client_frames, malformed, server_messages, snapshot_sequence};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// serde's JSON of a value, with integers beyond 2^53 − 1 (which a JSON reader in
/// JavaScript cannot hold exactly) written as decimal strings.
fn to_json<T: serde::Serialize>(value: &T) -> Value {
    fn fix(v: Value) -> Value {
        match v {
            Value::Number(n) if n.as_u64().is_some_and(|u| u > (1u64 << 53) - 1) => {
                Value::String(n.to_string())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(fix).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, fix(v))).collect()),
            v => v,
        }
    }
    fix(serde_json::to_value(value).unwrap())
}

fn view_json(view: &ClientView) -> Value {
    json!({
        "id": view.current_id(),
        "tick": view.tick,
        "last_input_seq": view.last_input_seq,
        "entities": view.entities().iter().map(|e| json!({
            "local": e.local, "net_id": e.net_id.0, "state": to_json(&e.state),
            "vel": [e.vel.0, e.vel.1],
        })).collect::<Vec<_>>(),
        "own": to_json(&view.own()),
    })
}

fn build() -> Value {
    let mut frames = Vec::new();
    for (name, messages) in client_frames() {
        let mut bytes = Vec::new();
        encode_client_frame(&messages, &mut bytes).unwrap();
        frames.push(json!({"name": name, "direction": "client", "hex": hex(&bytes), "value": to_json(&messages)}));
    }
    for (name, message) in server_messages() {
        let mut bytes = Vec::new();
        encode_server_message(&message, &mut bytes).unwrap();
        frames.push(json!({"name": name, "direction": "server", "hex": hex(&bytes), "value": to_json(&message)}));
    }
    let mut view = ClientView::new();
    let mut steps = Vec::new();
    for s in snapshot_sequence() {
        view.apply(&s).unwrap();
        steps.push(json!({"snapshot": format!("snapshot_{}", s.id), "view": view_json(&view)}));
    }
    let bad: Vec<Value> = malformed()
        .into_iter()
        .map(|(name, direction, hex)| json!({"name": name, "direction": direction, "hex": hex}))
        .collect();
    // A ticket as the orchestrator mints it (clients read its expiry to know whether a
    // reconnect may reuse it).
    let claims = TicketClaims {
        player_id: 42,
        zone_id: "meadow".into(),
        role: Role::Player,
        expires_unix: 1_800_000_000,
    };
    let ticket = TicketKey::new(b"conformance-secret").mint(&claims);
    json!({
        "protocol_version": PROTOCOL_VERSION,
        "about": "Golden frames of the Arcane Realms wire protocol (PROTOCOL.md). Each frame's `hex` decodes to `value` and `value` encodes to `hex`; `value` is serde's JSON shape (struct: object; unit variant: its name; other variant: {name: value}; Option: null or the value; tuple: array); integers above 2^53-1 are decimal strings. `views` applies the snapshots in order and gives the view after each. `malformed` frames must be refused.",
        "frames": frames,
        "views": steps,
        "malformed": bad,
        "ticket": {"text": ticket, "claims": {"player_id": claims.player_id, "zone_id": claims.zone_id, "role": "Player", "expires_unix": claims.expires_unix}},
    })
}

fn path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(format!("v{PROTOCOL_VERSION}.json"))
}

#[test]
fn the_committed_vectors_are_what_the_code_encodes() {
    let mut text = serde_json::to_string_pretty(&build()).unwrap();
    text.push('\n');
    if std::env::var_os("ARCANE_WRITE_VECTORS").is_some() {
        std::fs::write(path(), &text).unwrap();
    }
    let committed = std::fs::read_to_string(path()).unwrap_or_default();
    assert!(
        committed == text,
        "{} is stale: rerun with ARCANE_WRITE_VECTORS=1 after a deliberate protocol change",
        path().display()
    );
}

#[test]
fn every_committed_frame_decodes_to_its_value_and_back() {
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    for frame in vectors["frames"].as_array().unwrap() {
        let bytes = unhex(frame["hex"].as_str().unwrap());
        let name = frame["name"].as_str().unwrap();
        let mut again = Vec::new();
        if frame["direction"] == "client" {
            let messages = decode_client_frame(&bytes).unwrap();
            assert_eq!(to_json(&messages), frame["value"], "{name}");
            encode_client_frame(&messages, &mut again).unwrap();
        } else {
            let message = decode_server_message(&bytes).unwrap();
            assert_eq!(to_json(&message), frame["value"], "{name}");
            encode_server_message(&message, &mut again).unwrap();
        }
        assert_eq!(again, bytes, "{name} re-encodes differently");
    }
    for bad in vectors["malformed"].as_array().unwrap() {
        let bytes = unhex(bad["hex"].as_str().unwrap());
        let name = bad["name"].as_str().unwrap();
        if bad["direction"] == "client" {
            assert!(decode_client_frame(&bytes).is_err(), "{name} decoded");
        } else {
            assert!(decode_server_message(&bytes).is_err(), "{name} decoded");
        }
    }
}

#[test]
fn the_vectors_cover_every_message_and_event_kind() {
    let vectors = build();
    let mut kinds = std::collections::BTreeSet::new();
    for f in vectors["frames"].as_array().unwrap() {
        let value = &f["value"];
        let mut note = |v: &Value| {
            let k = v
                .as_str()
                .map(str::to_string)
                .or_else(|| v.as_object().map(|o| o.keys().next().unwrap().clone()));
            kinds.insert(k.unwrap());
        };
        if f["direction"] == "client" {
            value.as_array().unwrap().iter().for_each(&mut note);
        } else {
            note(value);
            if let Some(events) = value.get("Events") {
                for e in events.as_array().unwrap() {
                    note(&e["kind"]);
                }
            }
        }
    }
    for want in [
        "Hello",
        "Input",
        "Ack",
        "Ping",
        "Cast",
        "Respawn",
        "Admin",
        "Capture",
        "Breed",
        "RosterRequest",
        "Chat",
        "Social",
        "Welcome",
        "Snapshot",
        "Events",
        "Kick",
        "Pong",
        "Redirect",
        "InputRejected",
        "Notice",
        "CastRejected",
        "CastStarted",
        "CastInterrupted",
        "ProjectileSpawned",
        "Damage",
        "Healed",
        "Died",
        "Respawned",
        "Telegraph",
        "AdminResult",
        "CaptureResult",
        "BreedResult",
        "Roster",
        "RosterEntry",
        "ChatRefused",
    ] {
        assert!(kinds.contains(want), "no vector of {want}");
    }
}
