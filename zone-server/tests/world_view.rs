//! `/world` on the ops listener, what the zone viewer draws: the whole zone between two
//! ticks (entities with enemy states, spawners, obstacles, exits, creature cells) and,
//! for a chosen player, its interest radius and view; `?map=true` is the map alone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::time::Duration;

use arcane_loadtest::client::Client;
use arcane_loadtest::scrape::http_get;
use arcane_protocol::ClientTier;
use arcane_zone_server::ZoneServerConfig;
use arcane_zone_server::config::DEV_TICKET_SECRET;
use serde_json::Value;

mod support;
use support::{now_unix, ticket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_world_view_shows_the_zone_and_a_players_interest() {
    let content = support::content_with("world", &[]);
    let mut config = ZoneServerConfig::local(content.path().to_path_buf(), "test_area");
    config.watch_content = false;
    config.quic = false;
    let zone = arcane_zone_server::start(config).await.unwrap();
    let mut client = Client::join(
        &format!("ws://{}", zone.ws_addr),
        &ticket(7, "test_area", DEV_TICKET_SECRET, now_unix() + 60),
        ClientTier::Desktop,
    )
    .await
    .unwrap();
    let me = support::welcome(&mut client).await.player;
    let base = format!("http://{}", zone.admin_addr);
    // The player's view fills over its first ticks.
    let mut world = Value::Null;
    for _ in 0..50 {
        let _ = tokio::time::timeout(Duration::from_millis(100), client.recv()).await;
        world = serde_json::from_str(&http_get(&format!("{base}/world?player=7")).await.unwrap())
            .unwrap();
        if world["focus"]["view"]
            .as_array()
            .is_some_and(|v| v.len() > 1)
        {
            break;
        }
    }
    assert_eq!(world["zone_id"], "test_area");
    assert_eq!(world["players"], 1);
    assert_eq!(world["tick_rate_hz"], 20);
    let entities = world["entities"].as_array().unwrap();
    let mine = entities
        .iter()
        .find(|e| e["id"] == me.0)
        .expect("the player is in the world view");
    assert_eq!(mine["kind"], "Player");
    assert_eq!(mine["label"], "player 7");
    assert!(
        entities
            .iter()
            .any(|e| e["kind"] == "Enemy" && e["state"].is_string()),
        "no enemy with a state"
    );
    let focus = &world["focus"];
    assert_eq!(focus["player"], 7);
    assert_eq!(focus["id"], me.0);
    assert!(focus["radius"].as_f64().unwrap() > 0.0);
    let view: Vec<u64> = focus["view"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(view.contains(&u64::from(me.0)), "a player sees itself");
    assert!(
        view.iter()
            .all(|id| entities.iter().any(|e| e["id"] == *id)),
        "the view names live entities"
    );
    assert!(!world["spawners"].as_array().unwrap().is_empty());
    let cells = &world["cells"];
    assert!(cells["cols"].as_u64().unwrap() > 0);
    assert_eq!(
        cells["counts"].as_array().unwrap().len() as u64,
        cells["cols"].as_u64().unwrap() * cells["rows"].as_u64().unwrap()
    );
    // Without a player, no focus; an unknown player, none either.
    let whole: Value =
        serde_json::from_str(&http_get(&format!("{base}/world")).await.unwrap()).unwrap();
    assert!(whole["focus"].is_null());
    let stranger: Value =
        serde_json::from_str(&http_get(&format!("{base}/world?player=999")).await.unwrap())
            .unwrap();
    assert!(stranger["focus"].is_null());
    // The map alone.
    let map: Value =
        serde_json::from_str(&http_get(&format!("{base}/world?map=true")).await.unwrap()).unwrap();
    assert!(map["entities"].as_array().unwrap().is_empty());
    assert!(map["cells"].is_null());
    assert_eq!(map["bounds"], world["bounds"]);
    assert!(
        !map["obstacles"].as_array().unwrap().is_empty()
            || !map["exits"].as_array().unwrap().is_empty()
    );
    // A bad query is refused, not a crash.
    assert!(http_get(&format!("{base}/world?player=abc")).await.is_err());
    zone.shutdown();
    zone.wait().await;
}
