//! The cases of the conformance vectors: every client and server message kind with
//! edge values, a delta snapshot sequence, and frames a decoder must refuse.

use arcane_protocol::codec::encode_client_frame;
use arcane_protocol::messages::RejectReason;
use arcane_protocol::snapshot::flags;
use arcane_protocol::*;

use super::hex;

pub fn client_frames() -> Vec<(&'static str, Vec<ClientMessage>)> {
    use ClientMessage as C;
    let hello = |tier| {
        C::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            ticket: "eyJ0aWNrZXQiOjF9.c2lnbmF0dXJl".into(),
            tier,
        })
    };
    let cast = |seq, slot, target| C::Cast(CastIntent { seq, slot, target });
    let admin = |seq, command| C::Admin { seq, command };
    let social = |r| C::Social(r);
    let name = || "Örjan_42".to_string();
    vec![
        ("hello_desktop", vec![hello(ClientTier::Desktop)]),
        ("hello_mobile", vec![hello(ClientTier::Mobile)]),
        (
            "input_and_ack",
            vec![
                C::Input(MoveInput {
                    seq: 1,
                    dir_x: 127,
                    dir_y: -127,
                }),
                C::Ack { snapshot_id: 250 },
            ],
        ),
        (
            "input_edges",
            vec![
                C::Input(MoveInput {
                    seq: 251,
                    dir_x: 0,
                    dir_y: -128,
                }),
                C::Input(MoveInput {
                    seq: 65_535,
                    dir_x: -1,
                    dir_y: 1,
                }),
                C::Input(MoveInput {
                    seq: 65_536,
                    dir_x: 90,
                    dir_y: -90,
                }),
                C::Input(MoveInput {
                    seq: u32::MAX,
                    dir_x: 0,
                    dir_y: 0,
                }),
                C::Ack {
                    snapshot_id: u32::MAX,
                },
            ],
        ),
        (
            "ping_edges",
            vec![
                C::Ping { nonce: 0 },
                C::Ping { nonce: 250 },
                C::Ping {
                    nonce: u64::from(u32::MAX) + 1,
                },
                C::Ping { nonce: u64::MAX },
            ],
        ),
        (
            "casts",
            vec![
                cast(1, 0, CastTarget::Entity(NetId(4_000_000))),
                cast(2, 1, CastTarget::Caster),
                cast(
                    3,
                    2,
                    CastTarget::Point {
                        x_cm: i32::MIN,
                        y_cm: i32::MAX,
                    },
                ),
                cast(
                    4,
                    255,
                    CastTarget::Point {
                        x_cm: -125,
                        y_cm: 126,
                    },
                ),
            ],
        ),
        ("respawn", vec![C::Respawn]),
        (
            "admin_commands",
            vec![
                admin(
                    1,
                    AdminCommand::SpawnEnemy {
                        enemy: "skeleton".into(),
                        x_cm: -500,
                        y_cm: 700,
                    },
                ),
                admin(2, AdminCommand::ResetArea),
                admin(
                    3,
                    AdminCommand::SetHp {
                        target: NetId(0),
                        hp: 1,
                    },
                ),
                admin(
                    4,
                    AdminCommand::Teleport {
                        target: NetId(9),
                        x_cm: 1,
                        y_cm: -1,
                    },
                ),
                admin(
                    5,
                    AdminCommand::SetInvulnerable {
                        target: NetId(0),
                        on: true,
                    },
                ),
                admin(
                    6,
                    AdminCommand::SpawnCreature {
                        species: "emberfox".into(),
                        x_cm: 100,
                        y_cm: 200,
                        genes: vec![
                            ("temperament".into(), "docile".into()),
                            ("size".into(), "1.2".into()),
                        ],
                    },
                ),
                admin(
                    7,
                    AdminCommand::SetCellPopulation {
                        species: "emberfox".into(),
                        x_cm: 0,
                        y_cm: 0,
                        count: 300,
                    },
                ),
                admin(
                    8,
                    AdminCommand::ShowCreature {
                        target: NetId(0),
                        creature: u64::MAX,
                    },
                ),
                admin(
                    9,
                    AdminCommand::ShowCells {
                        x_cm: 5,
                        y_cm: 6,
                        radius_m: 40,
                    },
                ),
            ],
        ),
        (
            "creatures",
            vec![
                C::Capture {
                    seq: 1,
                    target: NetId(77),
                },
                C::Breed {
                    seq: 2,
                    first: 1,
                    second: (1u64 << 53) + 1,
                },
                C::RosterRequest,
            ],
        ),
        (
            "chat_channels",
            vec![
                C::Chat {
                    channel: ChatChannel::Say,
                    text: "hello".into(),
                },
                C::Chat {
                    channel: ChatChannel::Zone,
                    text: String::new(),
                },
                C::Chat {
                    channel: ChatChannel::Party,
                    text: "ünïcødé ✨ 🐉".into(),
                },
                C::Chat {
                    channel: ChatChannel::Whisper { to: name() },
                    text: "psst".into(),
                },
            ],
        ),
        (
            "chat_longest",
            vec![C::Chat {
                channel: ChatChannel::Say,
                text: "x".repeat(MAX_CHAT_BYTES),
            }],
        ),
        (
            "social_requests_a",
            vec![
                social(SocialRequest::Status),
                social(SocialRequest::PartyCreate),
                social(SocialRequest::PartyInvite { name: name() }),
                social(SocialRequest::PartyAccept {
                    party: "p-1".into(),
                }),
                social(SocialRequest::PartyDecline {
                    party: "p-2".into(),
                }),
                social(SocialRequest::PartyLeave),
                social(SocialRequest::PartyKick { name: name() }),
            ],
        ),
        (
            "social_requests_b",
            vec![
                social(SocialRequest::PartyPromote { name: name() }),
                social(SocialRequest::FriendAdd { name: name() }),
                social(SocialRequest::FriendRemove { name: name() }),
                social(SocialRequest::Block { name: name() }),
                social(SocialRequest::Unblock { name: name() }),
                social(SocialRequest::Mute { name: name() }),
                social(SocialRequest::Unmute { name: name() }),
            ],
        ),
        (
            "sixteen_messages",
            vec![C::Ping { nonce: 7 }; MAX_MESSAGES_PER_FRAME],
        ),
    ]
}

pub fn state(
    kind: EntityKind,
    variant: u16,
    x_cm: i32,
    y_cm: i32,
    hp_pct: u8,
    f: u8,
) -> EntityState {
    EntityState {
        kind,
        variant,
        x_cm,
        y_cm,
        hp_pct,
        flags: f,
    }
}

pub fn own(hp: u32) -> OwnState {
    OwnState {
        hp,
        max_hp: 200,
        mana: 80,
        max_mana: 150,
        ready_tick: vec![0, 1_000, u32::MAX],
        gcd_ready_tick: 251,
        casting: Some((2, 70_000)),
        respawn_tick: None,
        invulnerable_until: u32::MAX,
    }
}

pub fn creature(id: u64, egg: bool) -> CreatureView {
    CreatureView {
        id,
        species: "emberfox".into(),
        generation: 2,
        parents: Some((1, u64::MAX)),
        gene_version: 1,
        traits: vec![
            TraitView {
                gene: "temperament".into(),
                value: "docile (aggressive/docile)".into(),
            },
            TraitView {
                gene: "size".into(),
                value: "1.12".into(),
            },
        ],
        hatch_tick: egg.then_some(12_345),
        breed_ready_tick: 0,
    }
}

pub fn events() -> Vec<EventKind> {
    use EventKind as E;
    let n = NetId;
    let mut v = vec![
        E::Notice {
            text: "Welcome to the meadow".into(),
        },
        E::CastStarted {
            caster: n(1),
            slot: 2,
            cast_ticks: 20,
        },
        E::CastInterrupted {
            caster: n(1),
            slot: 2,
        },
        E::ProjectileSpawned {
            projectile: n(300),
            caster: n(1),
            slot: 0,
        },
        E::Damage {
            source: n(1),
            target: n(2),
            amount: 25,
            slot: Some(0),
        },
        E::Damage {
            source: n(2),
            target: n(1),
            amount: 1_000_000,
            slot: None,
        },
        E::Healed {
            source: n(1),
            target: n(1),
            amount: 60,
        },
        E::Died {
            entity: n(2),
            killer: Some(n(1)),
        },
        E::Died {
            entity: n(3),
            killer: None,
        },
        E::Respawned { entity: n(1) },
        E::AdminResult {
            seq: 9,
            ok: false,
            detail: "not an admin".into(),
        },
        E::Roster {
            capacity: 12,
            creatures: vec![creature(5, false), creature(6, true)],
        },
        E::RosterEntry {
            creature: Box::new(creature(u64::MAX, true)),
        },
        E::Chat {
            channel: ChatChannel::Whisper { to: "bob".into() },
            from_id: u64::MAX,
            from: "alice".into(),
            text: "hi ✨".into(),
        },
        E::Chat {
            channel: ChatChannel::Zone,
            from_id: 3,
            from: "carol".into(),
            text: "***".into(),
        },
    ];
    for (i, area) in [
        TelegraphArea::Circle { radius_cm: 500 },
        TelegraphArea::Cone {
            length_cm: 800,
            angle_decideg: 900,
        },
        TelegraphArea::Line {
            length_cm: 1200,
            width_cm: 200,
        },
    ]
    .into_iter()
    .enumerate()
    {
        let facing_mrad = [0, i16::MIN, i16::MAX][i];
        v.push(E::Telegraph {
            enemy: n(40),
            telegraph: Telegraph {
                area,
                x_cm: -300,
                y_cm: 300,
                facing_mrad,
            },
            windup_ticks: 12,
        });
    }
    for reason in RejectReason::ALL {
        v.push(E::InputRejected { seq: 5, reason });
    }
    for reason in CastRejectReason::ALL {
        v.push(E::CastRejected {
            seq: 6,
            slot: 1,
            reason,
        });
    }
    v.push(E::CaptureResult {
        seq: 1,
        target: n(77),
        outcome: CaptureOutcome::Captured { creature: 8 },
    });
    v.push(E::CaptureResult {
        seq: 2,
        target: n(77),
        outcome: CaptureOutcome::Escaped,
    });
    for r in CaptureRefusal::ALL {
        v.push(E::CaptureResult {
            seq: 3,
            target: n(77),
            outcome: CaptureOutcome::Refused(r),
        });
    }
    v.push(E::BreedResult {
        seq: 4,
        outcome: BreedOutcome::EggLaid {
            egg: 9,
            hatch_tick: 400,
        },
    });
    for r in BreedRefusal::ALL {
        v.push(E::BreedResult {
            seq: 5,
            outcome: BreedOutcome::Refused(r),
        });
    }
    for reason in ChatRefusal::ALL {
        v.push(E::ChatRefused {
            reason,
            detail: reason.as_str().into(),
        });
    }
    v
}

pub fn social_events() -> Vec<EventKind> {
    let member = |id, name: &str, leader| PartyMember {
        player_id: id,
        name: name.into(),
        leader,
        zone: if leader {
            "meadow".into()
        } else {
            String::new()
        },
        hp: 150,
        max_hp: 200,
    };
    let mut v = vec![
        SocialEvent::Done {
            request: "party_create".into(),
            detail: "party made".into(),
        },
        SocialEvent::Invited {
            party: "p-1".into(),
            from: "alice".into(),
        },
        SocialEvent::Party(None),
        SocialEvent::Party(Some(PartyView {
            id: "p-1".into(),
            members: vec![member(1, "alice", true), member(u64::MAX, "bob", false)],
        })),
        SocialEvent::Presence {
            name: "bob".into(),
            zone: String::new(),
        },
        SocialEvent::Lists {
            friends: vec![FriendView {
                name: "bob".into(),
                zone: "forest".into(),
            }],
            blocked: vec!["mallory".into()],
            muted: vec![],
        },
    ];
    for reason in [
        SocialRefusal::UnknownPlayer,
        SocialRefusal::Yourself,
        SocialRefusal::Blocked,
        SocialRefusal::PartyFull,
        SocialRefusal::NotInParty,
        SocialRefusal::AlreadyInParty,
        SocialRefusal::NotLeader,
        SocialRefusal::NoInvite,
        SocialRefusal::NotMember,
        SocialRefusal::ListFull,
        SocialRefusal::Unavailable,
        SocialRefusal::RateLimited,
    ] {
        v.push(SocialEvent::Refused {
            request: "party_invite".into(),
            reason,
            detail: reason.as_str().into(),
        });
    }
    v.into_iter()
        .map(|e| EventKind::Social(Box::new(e)))
        .collect()
}

pub fn full_snapshot() -> Snapshot {
    Snapshot {
        id: 1,
        tick: 1_000,
        baseline: 0,
        last_input_seq: 0,
        input_wait: None,
        time_rate: 100,
        leaves: vec![],
        enters: vec![
            EntityEnter {
                local: 0,
                net_id: NetId(1),
                state: state(EntityKind::Player, 0, 1_000, -2_000, 100, 0),
            },
            EntityEnter {
                local: 1,
                net_id: NetId(40),
                state: state(EntityKind::Enemy, 2, i32::MAX, i32::MIN, 1, flags::WINDUP),
            },
            EntityEnter {
                local: 2,
                net_id: NetId(300),
                state: state(EntityKind::Projectile, 0, 0, 0, 100, 0),
            },
            EntityEnter {
                local: 3,
                net_id: NetId(77),
                state: state(
                    EntityKind::Creature,
                    creatures::variant::pack(200, [3, 15]),
                    5,
                    5,
                    100,
                    0,
                ),
            },
            EntityEnter {
                local: 249,
                net_id: NetId(u32::MAX),
                state: state(
                    EntityKind::Npc,
                    u16::MAX,
                    -1,
                    1,
                    0,
                    flags::DEAD | flags::INVULNERABLE | flags::CASTING | flags::RECOVERING,
                ),
            },
        ],
        updates: vec![],
        own: Some(own(200)),
    }
}

/// A sequence applied in order; each step's view is recorded.
pub fn snapshot_sequence() -> Vec<Snapshot> {
    let upd = |local, pos_delta, hp_pct, f| EntityUpdate {
        local,
        pos_delta,
        hp_pct,
        flags: f,
        vel: None,
    };
    vec![
        full_snapshot(),
        Snapshot {
            id: 2,
            tick: 1_001,
            baseline: 1,
            last_input_seq: 1,
            input_wait: Some(InputWait {
                seq_back: 0,
                wait_100us: 123,
            }),
            time_rate: 100,
            leaves: vec![2],
            enters: vec![EntityEnter {
                local: 4,
                net_id: NetId(301),
                state: state(EntityKind::Projectile, 1, 10, 10, 100, 0),
            }],
            updates: vec![
                upd(0, Some((200, -1)), None, None),
                EntityUpdate {
                    vel: Some((30, -20)),
                    ..upd(1, Some((-125, 126)), Some(50), None)
                },
                upd(3, None, Some(0), Some(flags::DEAD)),
                EntityUpdate {
                    vel: Some((i32::MIN, i32::MAX)),
                    ..upd(249, None, None, Some(0))
                },
            ],
            own: Some(own(150)),
        },
        // Against the older baseline 1 (the client may not have acked 2 yet).
        Snapshot {
            id: 3,
            tick: 1_002,
            baseline: 1,
            last_input_seq: 2,
            input_wait: Some(InputWait {
                seq_back: 255,
                wait_100us: u16::MAX,
            }),
            time_rate: 100,
            leaves: vec![0],
            enters: vec![EntityEnter {
                local: 0,
                net_id: NetId(2),
                state: state(EntityKind::Player, 0, 0, 0, 100, flags::INVULNERABLE),
            }],
            updates: vec![upd(249, Some((i32::MAX, i32::MIN)), Some(100), Some(0))],
            own: None,
        },
        // Against 2, two ticks on: local 1 moved by its velocity twice and is off by
        // a nudge; local 0 by a residual; local 3 (a nudge, but with a new velocity:
        // the mask form); local 4 exactly as extrapolated (still, unlisted).
        Snapshot {
            id: 4,
            tick: 1_003,
            baseline: 2,
            last_input_seq: 3,
            input_wait: None,
            time_rate: 100,
            leaves: vec![],
            enters: vec![],
            updates: vec![
                upd(0, Some((5, -300)), None, None),
                upd(1, Some((3, -4)), None, None),
                EntityUpdate {
                    vel: Some((7, 0)),
                    ..upd(3, Some((-4, 3)), None, None)
                },
            ],
            own: None,
        },
        Snapshot {
            id: 5,
            tick: 1_004,
            baseline: 3,
            last_input_seq: 4,
            input_wait: None,
            time_rate: 45,
            leaves: vec![],
            enters: vec![],
            updates: vec![],
            own: None,
        },
    ]
}

pub fn server_messages() -> Vec<(String, ServerMessage)> {
    let mut out: Vec<(String, ServerMessage)> = vec![
        (
            "welcome".into(),
            ServerMessage::Welcome(Welcome {
                protocol_version: PROTOCOL_VERSION,
                zone_id: "meadow".into(),
                player: NetId(1),
                tick_rate_hz: 20,
                bounds_cm: [i32::MIN, -1, 0, i32::MAX],
                speed_cm_per_tick: 30,
                content_version: u64::MAX,
                skills: vec!["magic_missile".into(), "arcane_nova".into(), "heal".into()],
                creatures: CreatureCatalog {
                    species: vec!["emberfox".into(), "mossback".into()],
                    visible: vec![(
                        "temperament".into(),
                        vec!["aggressive".into(), "docile".into()],
                    )],
                },
            }),
        ),
        ("events_empty".into(), ServerMessage::Events(vec![])),
        (
            "pong".into(),
            ServerMessage::Pong {
                nonce: u64::MAX,
                tick: 65_536,
            },
        ),
        (
            "redirect".into(),
            ServerMessage::Redirect(Redirect {
                zone_id: "forest".into(),
                endpoint: "ws://127.0.0.1:7001".into(),
                ticket: "abc.def".into(),
                quic_endpoint: "quic://127.0.0.1:7101?sha256=00ff".into(),
            }),
        ),
        (
            "redirect_relogin".into(),
            ServerMessage::Redirect(Redirect {
                zone_id: "crypt-1".into(),
                endpoint: String::new(),
                ticket: String::new(),
                quic_endpoint: String::new(),
            }),
        ),
    ];
    for reason in KickReason::ALL {
        out.push((
            format!(
                "kick_{}",
                serde_json::to_value(reason).unwrap().as_str().unwrap()
            ),
            ServerMessage::Kick {
                reason,
                detail: "bye".into(),
            },
        ));
    }
    for (i, kind) in events().into_iter().chain(social_events()).enumerate() {
        let tick = [0, 250, 251, 65_535, 65_536, u32::MAX][i % 6];
        out.push((
            format!("event_{i:02}"),
            ServerMessage::Events(vec![ReliableEvent { tick, kind }]),
        ));
    }
    for s in snapshot_sequence() {
        out.push((format!("snapshot_{}", s.id), ServerMessage::Snapshot(s)));
    }
    out
}

/// Frames every decoder must refuse (never panic on): (name, direction, hex).
pub fn malformed() -> Vec<(&'static str, &'static str, String)> {
    let mut ping = Vec::new();
    encode_client_frame(&[ClientMessage::Ping { nonce: 1 }], &mut ping).unwrap();
    let mut trailing = ping.clone();
    trailing.push(0);
    // id 1, tick 1, baseline 0, seq 0, no wait, time rate 100, no leaves, no enters,
    // 1 update: local 0, form byte 0 (a mask with no field); no own.
    let update_mask_zero = [1, 1, 0, 0, 0, 100, 0, 0, 1, 0, 0, 0];
    let with = |at: usize, byte: u8| {
        let mut bytes = update_mask_zero;
        bytes[at] = byte;
        bytes
    };
    let unknown_bits = with(10, 0x10);
    let form_11 = with(10, 0xC0);
    let mut local_250 = with(10, 0x80);
    local_250[9] = 250;
    vec![
        ("empty_frame", "client", String::new()),
        ("zero_messages", "client", "00".into()),
        (
            "seventeen_messages",
            "client",
            format!("11{}", "0307".repeat(17)),
        ),
        ("trailing_byte", "client", hex(&trailing)),
        ("truncated", "client", hex(&ping[..ping.len() - 1])),
        ("unknown_client_variant", "client", "010c".into()),
        ("bad_bool", "client", "010605040002".into()),
        ("bad_option_tag", "server", "010101000002".into()),
        ("u16_marker_too_wide", "client", "0100fc07000000".into()),
        ("non_utf8_text", "client", "010a0002ff fe".replace(' ', "")),
        ("huge_count", "client", "fd0000000001000000".into()),
        ("string_longer_than_frame", "client", "01000710".into()),
        ("unknown_server_variant", "server", "06".into()),
        (
            "update_mask_zero",
            "server",
            format!("01{}", hex(&update_mask_zero)),
        ),
        (
            "update_unknown_bits",
            "server",
            format!("01{}", hex(&unknown_bits)),
        ),
        ("update_form_11", "server", format!("01{}", hex(&form_11))),
        (
            "update_local_250",
            "server",
            format!("01{}", hex(&local_250)),
        ),
        ("marker_254", "server", "04fe".into()),
    ]
}
