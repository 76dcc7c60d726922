//! Every message survives JSON both ways, keeps its field names (what the other side of
//! a rolling upgrade reads), and parses without its optional fields (what an older
//! peer sends).

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::*;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let json = serde_json::to_string(value).expect("serializes");
    let back: T = serde_json::from_str(&json).expect("parses back");
    assert_eq!(&back, value, "{json}");
}

fn text() -> impl Strategy<Value = String> {
    "[a-z~:/.0-9?=-]{0,24}"
}

prop_compose! {
    fn zone_info()(
        zone_id in text(), endpoint in text(), capacity in any::<u32>(), template in text(),
        overflow_at in any::<u32>(), instance in any::<bool>(), admin_endpoint in text(),
        quic_endpoint in text(), lease_generation in any::<i64>(),
    ) -> ZoneInfo {
        ZoneInfo {
            zone_id, endpoint, capacity, template, overflow_at, instance, admin_endpoint,
            quic_endpoint, lease_generation,
        }
    }
}

prop_compose! {
    fn zone_load()(
        players in any::<u32>(),
        tick_p99_ms in 0.0f64..1e6,
        time_rate in 0.1f64..=1.0,
        dilated_s in 0.0f64..1e5,
    ) -> ZoneLoad {
        ZoneLoad { players, tick_p99_ms, time_rate, dilated_s }
    }
}

proptest! {
    #[test]
    fn registry_messages_round_trip(
        info in zone_info(), load in zone_load(), last in any::<u64>(), up in any::<bool>()
    ) {
        round_trip(&info);
        round_trip(&Heartbeat {
            zone_id: info.zone_id.clone(), load, lease_generation: info.lease_generation,
        });
        round_trip(&Deregister {
            zone_id: info.zone_id.clone(), lease_generation: info.lease_generation,
        });
        round_trip(&ZoneStatus { info, load, last_heartbeat_ms: last, up });
    }

    #[test]
    fn login_and_transfer_messages_round_trip(
        name in text(), party in proptest::option::of(text()), token in proptest::option::of(text()),
        id in any::<u64>(), zone in text(), endpoint in text(), ticket in text(),
        expires in any::<u64>(), quic in text(),
    ) {
        round_trip(&LoginRequest { name, party, token });
        round_trip(&LoginResponse {
            player_id: id, zone_id: zone.clone(), endpoint: endpoint.clone(),
            ticket: ticket.clone(), expires_unix: expires, quic_endpoint: quic.clone(),
        });
        round_trip(&TransferRequest { transfer_id: ticket.clone() });
        round_trip(&TransferResponse {
            zone_id: zone, endpoint, ticket, expires_unix: expires, quic_endpoint: quic,
        });
    }
}

#[test]
fn field_names_are_the_wire_contract() {
    let info = ZoneInfo {
        zone_id: "meadow~2".into(),
        endpoint: "ws://10.0.0.1:7777".into(),
        capacity: 500,
        template: "meadow".into(),
        overflow_at: 400,
        instance: false,
        admin_endpoint: "http://10.0.0.1:9100".into(),
        quic_endpoint: "quic://10.0.0.1:7778?sha256=ab".into(),
        lease_generation: 3,
    };
    let status = ZoneStatus {
        info,
        load: ZoneLoad {
            players: 12,
            tick_p99_ms: 1.5,
            time_rate: 0.5,
            dilated_s: 12.5,
        },
        last_heartbeat_ms: 7,
        up: true,
    };
    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        serde_json::json!({
            "info": {
                "zone_id": "meadow~2", "endpoint": "ws://10.0.0.1:7777", "capacity": 500,
                "template": "meadow", "overflow_at": 400, "instance": false,
                "admin_endpoint": "http://10.0.0.1:9100",
                "quic_endpoint": "quic://10.0.0.1:7778?sha256=ab",
                "lease_generation": 3
            },
            "load": {"players": 12, "tick_p99_ms": 1.5, "time_rate": 0.5, "dilated_s": 12.5},
            "last_heartbeat_ms": 7,
            "up": true
        })
    );
    assert_eq!(
        serde_json::to_value(TransferResponse {
            zone_id: "forest".into(),
            endpoint: "ws://e".into(),
            ticket: "t".into(),
            expires_unix: 9,
            quic_endpoint: String::new(),
        })
        .unwrap(),
        serde_json::json!({"zone_id": "forest", "endpoint": "ws://e", "ticket": "t",
            "expires_unix": 9, "quic_endpoint": ""})
    );
    // A login without a token leaves the field out.
    assert_eq!(
        serde_json::to_value(LoginRequest {
            name: "ada".into(),
            party: None,
            token: None,
        })
        .unwrap(),
        serde_json::json!({"name": "ada", "party": null})
    );
}

#[test]
fn what_an_older_peer_leaves_out_takes_its_default() {
    let info: ZoneInfo =
        serde_json::from_str(r#"{"zone_id":"meadow","endpoint":"ws://e","capacity":10}"#).unwrap();
    assert_eq!(info.template(), "meadow");
    assert_eq!(info.overflow_at(), 10);
    assert!(!info.instance && info.quic_endpoint.is_empty());
    assert_eq!(info.lease_generation, 0);
    let login: LoginResponse = serde_json::from_str(
        r#"{"player_id":1,"zone_id":"meadow","endpoint":"ws://e","ticket":"t","expires_unix":2}"#,
    )
    .unwrap();
    assert!(login.quic_endpoint.is_empty());
    let req: LoginRequest = serde_json::from_str("{}").unwrap();
    assert_eq!(req, LoginRequest::default());
}

#[test]
fn the_overflow_threshold_never_exceeds_the_capacity() {
    let mut info = ZoneInfo {
        capacity: 100,
        overflow_at: 150,
        ..ZoneInfo::default()
    };
    assert_eq!(info.overflow_at(), 100);
    info.overflow_at = 80;
    assert_eq!(info.overflow_at(), 80);
}
