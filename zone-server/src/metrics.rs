//! Prometheus metrics of one zone process (no per-player labels).

use std::sync::atomic::{AtomicU64, Ordering};

use arcane_engine::ZoneCounters;
use arcane_protocol::messages::RejectReason;
use arcane_protocol::{CastRejectReason, KickReason};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabel {
    pub transport: &'static str,
}

/// Counters of one transport, resolved once so the per-frame path does not look the
/// label set up (a lock and a hash) every time.
#[derive(Clone, Default)]
pub struct TransportCounters {
    pub bytes_sent: Counter,
    pub bytes_received: Counter,
    pub messages_sent: Counter,
    pub messages_received: Counter,
}

/// Every metric the zone exports. Cheap to update from any thread.
pub struct Metrics {
    pub ws: TransportCounters,
    pub quic: TransportCounters,
    pub registry: Registry,
    /// `process_*` metrics, without the `arcane_` prefix, per Prometheus convention.
    pub process: Registry,
    pub tick_duration: Histogram,
    pub ticks: Counter,
    pub tick_overruns: Counter,
    pub players: Gauge,
    pub entities: Gauge,
    pub connections: Gauge,
    pub bytes_sent: Family<TransportLabel, Counter>,
    pub bytes_received: Family<TransportLabel, Counter>,
    pub messages_sent: Family<TransportLabel, Counter>,
    pub messages_received: Family<TransportLabel, Counter>,
    pub inputs_applied: Counter,
    pub inputs_rejected: Family<ReasonLabel, Counter>,
    pub inputs_superseded: Counter,
    pub snapshots: Counter,
    pub full_snapshots: Counter,
    pub snapshot_bytes: Counter,
    /// Size of each snapshot sent (bytes), observed by the transports.
    pub snapshot_size: Histogram,
    /// Snapshots sent as QUIC datagrams, and those too big for one (sent on the stream).
    pub snapshot_datagrams: Counter,
    pub snapshot_stream_fallbacks: Counter,
    /// QUIC packets sent and declared lost by the peer's acknowledgements.
    pub quic_packets_sent: Counter,
    pub quic_packets_lost: Counter,
    /// Client frames dropped by the per-connection rate limit.
    pub rate_limited_frames: Counter,
    pub outbox_drops: Counter,
    pub inbox_drops: Counter,
    pub malformed_frames: Counter,
    pub kicks: Family<ReasonLabel, Counter>,
    pub handshake_failures: Family<ReasonLabel, Counter>,
    pub casts: Counter,
    pub casts_rejected: Family<ReasonLabel, Counter>,
    pub hits: Counter,
    pub kills: Counter,
    pub player_deaths: Counter,
    pub respawns: Counter,
    pub enemy_attacks: Counter,
    pub admin_commands: Counter,
    pub admin_refused: Counter,
    /// `result` is `applied` or `rejected`.
    pub content_reloads: Family<ResultLabel, Counter>,
    /// One series with value 1, labelled with the running content's version.
    pub content_info: Family<VersionLabel, Gauge>,
    /// Outgoing transfers by result (`committed`, `aborted`).
    pub transfers: Family<ResultLabel, Counter>,
    /// Freeze → commit answered (the source zone's part of a transfer).
    pub transfer_duration: Histogram,
    /// Checkpoint writes by result (`ok`, `failed`) and players written.
    pub checkpoints: Family<ResultLabel, Counter>,
    pub checkpointed_players: Counter,
    pub checkpoint_duration: Histogram,
    /// Checkpoints skipped because the previous one was still being written.
    pub checkpoints_skipped: Counter,
    pub cpu_seconds: Counter<f64, AtomicU64>,
    pub resident_memory: Gauge,
    cpu_seen: AtomicU64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    pub version: String,
}

pub const WS: TransportLabel = TransportLabel { transport: "ws" };
pub const QUIC: TransportLabel = TransportLabel { transport: "quic" };

impl Metrics {
    pub fn new(zone: &str) -> Metrics {
        let mut registry = Registry::with_prefix_and_labels(
            "arcane",
            [(
                std::borrow::Cow::Borrowed("zone"),
                std::borrow::Cow::Owned(zone.to_string()),
            )]
            .into_iter(),
        );
        // Buckets around the 50 ms budget of a 20 Hz tick.
        let tick_duration = Histogram::new([
            0.001, 0.002, 0.004, 0.008, 0.012, 0.016, 0.025, 0.035, 0.05, 0.075, 0.1, 0.25,
        ]);
        let bytes_sent = Family::<TransportLabel, Counter>::default();
        let bytes_received = Family::<TransportLabel, Counter>::default();
        let messages_sent = Family::<TransportLabel, Counter>::default();
        let messages_received = Family::<TransportLabel, Counter>::default();
        let counters = |t: &TransportLabel| TransportCounters {
            bytes_sent: bytes_sent.get_or_create(t).clone(),
            bytes_received: bytes_received.get_or_create(t).clone(),
            messages_sent: messages_sent.get_or_create(t).clone(),
            messages_received: messages_received.get_or_create(t).clone(),
        };
        let (ws, quic) = (counters(&WS), counters(&QUIC));
        let m = Metrics {
            ws,
            quic,
            tick_duration,
            ticks: Counter::default(),
            tick_overruns: Counter::default(),
            players: Gauge::default(),
            entities: Gauge::default(),
            connections: Gauge::default(),
            bytes_sent,
            bytes_received,
            messages_sent,
            messages_received,
            inputs_applied: Counter::default(),
            inputs_rejected: Family::default(),
            inputs_superseded: Counter::default(),
            snapshots: Counter::default(),
            full_snapshots: Counter::default(),
            snapshot_bytes: Counter::default(),
            snapshot_size: Histogram::new([
                64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0, 65536.0,
            ]),
            snapshot_datagrams: Counter::default(),
            snapshot_stream_fallbacks: Counter::default(),
            quic_packets_sent: Counter::default(),
            quic_packets_lost: Counter::default(),
            rate_limited_frames: Counter::default(),
            outbox_drops: Counter::default(),
            inbox_drops: Counter::default(),
            malformed_frames: Counter::default(),
            kicks: Family::default(),
            handshake_failures: Family::default(),
            casts: Counter::default(),
            casts_rejected: Family::default(),
            hits: Counter::default(),
            kills: Counter::default(),
            player_deaths: Counter::default(),
            respawns: Counter::default(),
            enemy_attacks: Counter::default(),
            admin_commands: Counter::default(),
            admin_refused: Counter::default(),
            content_reloads: Family::default(),
            content_info: Family::default(),
            transfers: Family::default(),
            transfer_duration: Histogram::new([
                0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            checkpoints: Family::default(),
            checkpointed_players: Counter::default(),
            checkpoint_duration: Histogram::new([
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
            checkpoints_skipped: Counter::default(),
            cpu_seconds: Counter::default(),
            resident_memory: Gauge::default(),
            cpu_seen: AtomicU64::new(0),
            registry: Registry::default(),
            process: Registry::default(),
        };
        registry.register_with_unit(
            "tick_duration",
            "Time to run one zone tick",
            prometheus_client::registry::Unit::Seconds,
            m.tick_duration.clone(),
        );
        registry.register("ticks", "Zone ticks run", m.ticks.clone());
        registry.register(
            "tick_overruns",
            "Ticks that took longer than the tick budget",
            m.tick_overruns.clone(),
        );
        registry.register("players", "Players in the zone", m.players.clone());
        registry.register("entities", "Entities in the zone", m.entities.clone());
        registry.register(
            "connections",
            "Open client connections",
            m.connections.clone(),
        );
        registry.register_with_unit(
            "sent",
            "Bytes sent to clients",
            prometheus_client::registry::Unit::Bytes,
            m.bytes_sent.clone(),
        );
        registry.register_with_unit(
            "received",
            "Bytes received from clients",
            prometheus_client::registry::Unit::Bytes,
            m.bytes_received.clone(),
        );
        registry.register(
            "messages_sent",
            "Frames sent to clients",
            m.messages_sent.clone(),
        );
        registry.register(
            "messages_received",
            "Frames received from clients",
            m.messages_received.clone(),
        );
        registry.register(
            "inputs_applied",
            "Movement inputs applied",
            m.inputs_applied.clone(),
        );
        registry.register(
            "inputs_rejected",
            "Inputs rejected by validation, by reason",
            m.inputs_rejected.clone(),
        );
        registry.register(
            "inputs_superseded",
            "Inputs the network reordered behind a newer applied one: dropped, not blamed",
            m.inputs_superseded.clone(),
        );
        registry.register("snapshots", "Snapshots encoded", m.snapshots.clone());
        registry.register(
            "full_snapshots",
            "Snapshots encoded without a baseline",
            m.full_snapshots.clone(),
        );
        registry.register_with_unit(
            "snapshot",
            "Encoded snapshot bytes",
            prometheus_client::registry::Unit::Bytes,
            m.snapshot_bytes.clone(),
        );
        registry.register_with_unit(
            "snapshot_size",
            "Size of each snapshot sent to a client",
            prometheus_client::registry::Unit::Bytes,
            m.snapshot_size.clone(),
        );
        registry.register(
            "snapshot_datagrams",
            "Snapshots sent as QUIC datagrams",
            m.snapshot_datagrams.clone(),
        );
        registry.register(
            "snapshot_stream_fallbacks",
            "Snapshots too large for a QUIC datagram, sent on the stream instead",
            m.snapshot_stream_fallbacks.clone(),
        );
        registry.register(
            "quic_packets_sent",
            "QUIC packets sent to clients",
            m.quic_packets_sent.clone(),
        );
        registry.register(
            "quic_packets_lost",
            "QUIC packets the clients' acknowledgements showed lost (datagram loss)",
            m.quic_packets_lost.clone(),
        );
        registry.register(
            "rate_limited_frames",
            "Client frames dropped by the per-connection frame rate limit",
            m.rate_limited_frames.clone(),
        );
        registry.register(
            "outbox_drops",
            "Unsent snapshots replaced by a newer one",
            m.outbox_drops.clone(),
        );
        registry.register(
            "inbox_drops",
            "Client messages dropped because the tick inbox was full",
            m.inbox_drops.clone(),
        );
        registry.register(
            "malformed_frames",
            "Client frames that failed to decode",
            m.malformed_frames.clone(),
        );
        registry.register(
            "kicks",
            "Connections closed by the server, by reason",
            m.kicks.clone(),
        );
        registry.register(
            "handshake_failures",
            "Connections refused at handshake, by reason",
            m.handshake_failures.clone(),
        );
        registry.register("casts", "Casts that passed validation", m.casts.clone());
        registry.register(
            "casts_rejected",
            "Cast intents refused, by reason",
            m.casts_rejected.clone(),
        );
        registry.register("hits", "Damage hits that landed", m.hits.clone());
        registry.register("kills", "Enemies killed", m.kills.clone());
        registry.register("player_deaths", "Player deaths", m.player_deaths.clone());
        registry.register("respawns", "Player respawns", m.respawns.clone());
        registry.register(
            "enemy_attacks",
            "Enemy attacks resolved after their wind-up",
            m.enemy_attacks.clone(),
        );
        registry.register(
            "admin_commands",
            "Admin commands run",
            m.admin_commands.clone(),
        );
        registry.register(
            "admin_refused",
            "Admin commands refused for lack of the admin role",
            m.admin_refused.clone(),
        );
        registry.register(
            "transfers",
            "Players handed to other zones, by result",
            m.transfers.clone(),
        );
        registry.register(
            "transfer_duration_seconds",
            "From the freeze at an exit to the orchestrator's commit",
            m.transfer_duration.clone(),
        );
        registry.register(
            "checkpoints",
            "Write-behind checkpoint batches, by result",
            m.checkpoints.clone(),
        );
        registry.register(
            "checkpointed_players",
            "Player states written by checkpoints and logouts",
            m.checkpointed_players.clone(),
        );
        registry.register(
            "checkpoint_duration_seconds",
            "Time to write one checkpoint batch",
            m.checkpoint_duration.clone(),
        );
        registry.register(
            "checkpoints_skipped",
            "Checkpoints skipped because the previous one was still being written",
            m.checkpoints_skipped.clone(),
        );
        registry.register(
            "content_reloads",
            "Content hot reloads, by result",
            m.content_reloads.clone(),
        );
        registry.register(
            "content",
            "The content version this zone runs (value 1, version label)",
            m.content_info.clone(),
        );
        // Every known label value starts at zero, so dashboards and alerts see a series
        // (and a rate of 0) before the first event rather than "no data".
        for reason in KickReason::ALL {
            let reason = kick_label(reason).to_string();
            let _ = m.kicks.get_or_create(&ReasonLabel {
                reason: reason.clone(),
            });
            let _ = m.handshake_failures.get_or_create(&ReasonLabel { reason });
        }
        for r in RejectReason::ALL {
            let _ = m.inputs_rejected.get_or_create(&ReasonLabel {
                reason: r.as_str().into(),
            });
        }
        for r in CastRejectReason::ALL {
            let _ = m.casts_rejected.get_or_create(&ReasonLabel {
                reason: r.as_str().into(),
            });
        }
        for result in ["committed", "aborted"] {
            let _ = m.transfers.get_or_create(&ResultLabel { result });
        }
        for result in ["ok", "failed"] {
            let _ = m.checkpoints.get_or_create(&ResultLabel { result });
        }
        for result in ["applied", "rejected"] {
            let _ = m.content_reloads.get_or_create(&ResultLabel { result });
        }
        let mut process = Registry::with_prefix("process");
        process.register_with_unit(
            "cpu",
            "Process CPU time (user + system)",
            prometheus_client::registry::Unit::Seconds,
            m.cpu_seconds.clone(),
        );
        process.register_with_unit(
            "resident_memory",
            "Resident set size",
            prometheus_client::registry::Unit::Bytes,
            m.resident_memory.clone(),
        );
        Metrics {
            registry,
            process,
            ..m
        }
    }

    /// Adds what the engine's monotonic counters gained since `last` (the tick thread
    /// keeps `last`) to the exported ones.
    pub fn observe_engine(&self, last: &ZoneCounters, now: &ZoneCounters) {
        self.inputs_applied
            .inc_by(now.inputs_applied - last.inputs_applied);
        self.inputs_superseded
            .inc_by(now.inputs_superseded - last.inputs_superseded);
        for r in RejectReason::ALL {
            let d = now.rejected(r) - last.rejected(r);
            if d > 0 {
                self.inputs_rejected
                    .get_or_create(&ReasonLabel {
                        reason: r.as_str().into(),
                    })
                    .inc_by(d);
            }
        }
        self.snapshots.inc_by(now.snapshots - last.snapshots);
        self.full_snapshots
            .inc_by(now.full_snapshots - last.full_snapshots);
        self.snapshot_bytes
            .inc_by(now.snapshot_bytes - last.snapshot_bytes);
        self.casts.inc_by(now.casts - last.casts);
        for r in CastRejectReason::ALL {
            let d = now.cast_rejected[r as usize] - last.cast_rejected[r as usize];
            if d > 0 {
                self.casts_rejected
                    .get_or_create(&ReasonLabel {
                        reason: r.as_str().into(),
                    })
                    .inc_by(d);
            }
        }
        self.hits.inc_by(now.hits - last.hits);
        self.kills.inc_by(now.kills - last.kills);
        self.player_deaths
            .inc_by(now.player_deaths - last.player_deaths);
        self.respawns.inc_by(now.respawns - last.respawns);
        self.enemy_attacks
            .inc_by(now.enemy_attacks - last.enemy_attacks);
        self.admin_commands
            .inc_by(now.admin_commands - last.admin_commands);
        self.admin_refused
            .inc_by(now.admin_refused - last.admin_refused);
    }

    /// Shows `version` as the running content (and no other).
    pub fn set_content_version(&self, version: &str) {
        self.content_info.clear();
        self.content_info
            .get_or_create(&VersionLabel {
                version: version.to_string(),
            })
            .set(1);
    }

    /// Counts an outgoing transfer and its duration.
    pub fn transfer(&self, result: &'static str, took: std::time::Duration) {
        self.transfers.get_or_create(&ResultLabel { result }).inc();
        self.transfer_duration.observe(took.as_secs_f64());
    }

    /// Counts a checkpoint write of `players` states.
    pub fn checkpoint(&self, result: &'static str, players: usize, took: std::time::Duration) {
        self.checkpoints
            .get_or_create(&ResultLabel { result })
            .inc();
        if result == "ok" {
            self.checkpointed_players.inc_by(players as u64);
        }
        self.checkpoint_duration.observe(took.as_secs_f64());
    }

    /// Counts a hot reload by result (`applied` or `rejected`).
    pub fn content_reload(&self, result: &'static str) {
        self.content_reloads
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    pub fn kick(&self, reason: KickReason) {
        self.kicks
            .get_or_create(&ReasonLabel {
                reason: kick_label(reason).into(),
            })
            .inc();
    }

    pub fn handshake_failure(&self, reason: &str) {
        self.handshake_failures
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .inc();
    }

    /// Refreshes process CPU and memory from /proc before a scrape (Linux; elsewhere
    /// these stay at zero).
    pub fn refresh_process(&self) {
        if let Some((cpu_ticks, rss_pages)) = read_proc_self() {
            // USER_HZ is 100 on every Linux platform we run on.
            let seen = self.cpu_seen.swap(cpu_ticks, Ordering::Relaxed);
            if cpu_ticks > seen {
                self.cpu_seconds.inc_by((cpu_ticks - seen) as f64 / 100.0);
            }
            self.resident_memory.set((rss_pages * 4096) as i64);
        }
    }

    pub fn encode(&self) -> String {
        self.refresh_process();
        // Two registries, one exposition: drop the first one's `# EOF` terminator.
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.process).is_err() {
            out.clear();
        }
        if let Some(stripped) = out.strip_suffix("# EOF\n") {
            out.truncate(stripped.len());
        }
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Stable label for a kick reason.
pub fn kick_label(reason: KickReason) -> &'static str {
    match reason {
        KickReason::VersionMismatch => "version_mismatch",
        KickReason::BadTicket => "bad_ticket",
        KickReason::TicketExpired => "ticket_expired",
        KickReason::WrongZone => "wrong_zone",
        KickReason::HandshakeFailed => "handshake_failed",
        KickReason::MalformedPackets => "malformed_packets",
        KickReason::TooManyViolations => "too_many_violations",
        KickReason::SlowClient => "slow_client",
        KickReason::Timeout => "timeout",
        KickReason::DuplicateLogin => "duplicate_login",
        KickReason::ZoneFull => "zone_full",
        KickReason::ServerShutdown => "server_shutdown",
        KickReason::Redirected => "redirected",
        KickReason::NotOwner => "not_owner",
    }
}

/// (utime + stime in clock ticks, resident pages) of this process.
fn read_proc_self() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let rss: u64 = fields.get(21)?.parse().ok()?;
    Some((utime + stime, rss))
}
