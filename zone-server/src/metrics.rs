//! Prometheus metrics of one zone process (no per-player labels). Each metric is
//! declared once ([`arcane_service::metric_set!`]): its field, its making and its
//! registration with name and help come from the one line.

use std::sync::atomic::{AtomicU64, Ordering};

use arcane_engine::ZoneCounters;
use arcane_protocol::messages::RejectReason;
use arcane_protocol::{BreedRefusal, CaptureRefusal, CastRejectReason, KickReason};
use arcane_service::metric_set;
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
pub struct SpeciesLabel {
    pub species: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabel {
    pub transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    pub channel: &'static str,
}

pub const WS: TransportLabel = TransportLabel { transport: "ws" };
pub const QUIC: TransportLabel = TransportLabel { transport: "quic" };

metric_set! {
    /// Every `arcane_*` metric a zone exports, labelled with the zone.
    pub struct ZoneMetricSet {
        // Buckets around the 50 ms budget of a 20 Hz tick.
        tick_duration: Histogram = Histogram::new([
            0.001, 0.002, 0.004, 0.008, 0.012, 0.016, 0.025, 0.035, 0.05, 0.075, 0.1, 0.25,
        ]) => "tick_duration", "Time to run one zone tick", Seconds;
        ticks: Counter => "ticks", "Zone ticks run";
        tick_overruns: Counter => "tick_overruns", "Ticks that took longer than the tick budget";
        time_rate: Gauge<f64, AtomicU64> => "time_rate",
            "The zone's time rate as a share of real time: 1, or less while it dilates time";
        dilated_ticks: Counter => "dilated_ticks", "Ticks run while the zone dilated time";
        players: Gauge => "players", "Players in the zone";
        entities: Gauge => "entities", "Entities in the zone";
        connections: Gauge => "connections", "Open client connections";
        bytes_sent: Family<TransportLabel, Counter> => "sent", "Bytes sent to clients", Bytes;
        bytes_received: Family<TransportLabel, Counter> =>
            "received", "Bytes received from clients", Bytes;
        messages_sent: Family<TransportLabel, Counter> => "messages_sent", "Frames sent to clients";
        messages_received: Family<TransportLabel, Counter> =>
            "messages_received", "Frames received from clients";
        inputs_applied: Counter => "inputs_applied", "Movement inputs applied";
        inputs_rejected: Family<ReasonLabel, Counter> =>
            "inputs_rejected", "Inputs rejected by validation, by reason";
        inputs_superseded: Counter => "inputs_superseded",
            "Inputs the network reordered behind a newer applied one: dropped, not blamed";
        snapshots: Counter => "snapshots", "Snapshots encoded";
        full_snapshots: Counter => "full_snapshots", "Snapshots encoded without a baseline";
        snapshot_bytes: Counter => "snapshot", "Encoded snapshot bytes", Bytes;
        snapshot_size: Histogram = Histogram::new([
            64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0, 65536.0,
        ]) => "snapshot_size", "Size of each snapshot sent to a client", Bytes;
        snapshot_datagrams: Counter => "snapshot_datagrams", "Snapshots sent as QUIC datagrams";
        snapshot_stream_fallbacks: Counter => "snapshot_stream_fallbacks",
            "Snapshots too large for a QUIC datagram, sent on the stream instead";
        quic_packets_sent: Counter => "quic_packets_sent", "QUIC packets sent to clients";
        quic_datagrams_received: Counter => "quic_datagrams_received",
            "UDP datagrams received on QUIC connections (inputs, acks, ACK-only packets)";
        quic_packets_lost: Counter => "quic_packets_lost",
            "QUIC packets the clients' acknowledgements showed lost (datagram loss)";
        rate_limited_frames: Counter => "rate_limited_frames",
            "Client frames dropped by the per-connection frame rate limit";
        outbox_drops: Counter => "outbox_drops", "Unsent snapshots replaced by a newer one";
        inbox_drops: Counter => "inbox_drops",
            "Client messages dropped because the tick inbox was full";
        malformed_frames: Counter => "malformed_frames", "Client frames that failed to decode";
        kicks: Family<ReasonLabel, Counter> => "kicks", "Connections closed by the server, by reason";
        handshake_failures: Family<ReasonLabel, Counter> =>
            "handshake_failures", "Connections refused at handshake, by reason";
        casts: Counter => "casts", "Casts that passed validation";
        casts_rejected: Family<ReasonLabel, Counter> => "casts_rejected", "Cast intents refused, by reason";
        hits: Counter => "hits", "Damage hits that landed";
        kills: Counter => "kills", "Enemies killed";
        player_deaths: Counter => "player_deaths", "Player deaths";
        respawns: Counter => "respawns", "Player respawns";
        enemy_attacks: Counter => "enemy_attacks", "Enemy attacks resolved after their wind-up";
        admin_commands: Counter => "admin_commands", "Admin commands run";
        admin_refused: Counter => "admin_refused", "Admin commands refused for lack of the admin role";
        system_faults: Counter => "system_faults",
            "Systems or commands that failed (a panic): logged and skipped for one tick";
        lease_renewal_failures: Counter => "lease_renewal_failures",
            "Zone lease renewals that failed (the database did not answer)";
        lease_pauses: Counter => "lease_pauses",
            "Ticks skipped because the zone lease might have expired";
        stalls: Counter => "stalls", "Times the tick thread resumed after missing ticks (a stop, a swap storm)";
        transfers: Family<ResultLabel, Counter> => "transfers", "Players handed to other zones, by result";
        transfer_duration: Histogram = Histogram::new([
            0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]) => "transfer_duration_seconds", "From the freeze at an exit to the orchestrator's commit";
        checkpoints: Family<ResultLabel, Counter> => "checkpoints", "Write-behind checkpoint batches, by result";
        checkpointed_players: Counter => "checkpointed_players",
            "Player states written by checkpoints and logouts";
        checkpoint_duration: Histogram = Histogram::new([
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
        ]) => "checkpoint_duration_seconds", "Time to write one checkpoint batch";
        checkpoints_skipped: Counter => "checkpoints_skipped",
            "Checkpoints skipped because the previous one was still being written";
        rejoins_before_save: Counter => "rejoins_before_save",
            "Players who joined again before their logout save was read back (they keep the state they left with)";
        creature_births: Counter => "creature_births", "Wild creatures born in breeding cells";
        creature_deaths: Counter => "creature_deaths", "Wild creatures that died";
        captures: Counter => "captures", "Wild creatures captured into a roster";
        capture_escapes: Counter => "capture_escapes", "Capture rolls that failed";
        captures_refused: Family<ReasonLabel, Counter> => "captures_refused", "Capture intents refused, by reason";
        breeds: Counter => "breeds", "Eggs laid by player breeding";
        breeds_refused: Family<ReasonLabel, Counter> => "breeds_refused", "Breed intents refused, by reason";
        hatches: Counter => "hatches", "Eggs hatched";
        creature_population: Family<SpeciesLabel, Gauge> => "creature_population", "Wild creatures alive, by species";
        content_reloads: Family<ResultLabel, Counter> => "content_reloads", "Content hot reloads, by result";
        chat_messages: Family<ChannelLabel, Counter> => "chat_messages", "Chat messages accepted, by channel";
        chat_refused: Family<ReasonLabel, Counter> => "chat_refused", "Chat messages refused here, by reason";
        chat_filtered: Counter => "chat_filtered", "Chat messages with words masked by the filter";
        chat_hidden: Counter => "chat_hidden", "Chat copies not shown because the reader blocks or mutes the speaker";
        social_requests: Counter => "social_requests", "Friend, block and party requests handed to the orchestrator";
        social_requests_refused: Counter => "social_requests_refused", "Social requests refused here for the per-player rate";
        social_link_up: Gauge => "social_link_up", "1 while the social link to the orchestrator is up";
        social_dropped: Counter => "social_dropped", "Social messages dropped (the link or the tick inbox full)";
        journal_records: Counter => "journal_records", "Records written to the zone's journal";
        journal_bytes: Counter => "journal", "Bytes written to the zone's journal", Bytes;
        journal_segments: Counter => "journal_segments", "Journal segments begun";
        journal_errors: Counter => "journal_errors",
            "Journal failures (a write error, a full disk, a writer that fell behind); the journal stops";
        journal_late: Counter => "journal_late",
            "Ticks whose outputs left before their journal record was written (the writer was over 10 ms late)";
        recoveries: Counter => "recoveries",
            "Starts that recovered a killed predecessor's players from its journal";
        recovered_players: Counter => "recovered_players",
            "Players written to the database by crash recovery";
        journal_running: Gauge => "journal_running", "1 while the zone's journal is being written";
        state_hash: Gauge => "state_hash",
            "The latest digest of the zone's authoritative state (as a signed 64-bit number)";
        state_hash_tick: Gauge => "state_hash_tick", "The tick the latest state digest is of";
        content_info: Family<VersionLabel, Gauge> =>
            "content_info", "The content version this zone runs (value 1, version label)";
    }
}

metric_set! {
    /// The `process_*` metrics, without the `arcane_` prefix, per Prometheus convention.
    pub struct ProcessMetrics {
        cpu_seconds: Counter<f64, AtomicU64> => "cpu", "Process CPU time (user + system)", Seconds;
        resident_memory: Gauge => "resident_memory", "Resident set size", Bytes;
    }
}

/// Adds what each reason's counter gained (`now[i] - last[i]`, reason `names[i]`).
fn add_by_reason<const N: usize>(
    family: &Family<ReasonLabel, Counter>,
    names: [&'static str; N],
    now: &[u64; N],
    last: &[u64; N],
) {
    for ((name, now), last) in names.iter().zip(now).zip(last) {
        if now > last {
            family
                .get_or_create(&ReasonLabel {
                    reason: (*name).into(),
                })
                .inc_by(now - last);
        }
    }
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

/// Every metric the zone exports. Cheap to update from any thread; the zone's set is
/// reached through `Deref` (`metrics.ticks`).
pub struct Metrics {
    pub ws: TransportCounters,
    pub quic: TransportCounters,
    set: ZoneMetricSet,
    process: ProcessMetrics,
    registry: Registry,
    process_registry: Registry,
    /// CPU time already counted, in the kernel's clock ticks.
    cpu_seen: AtomicU64,
}

impl std::ops::Deref for Metrics {
    type Target = ZoneMetricSet;
    fn deref(&self) -> &ZoneMetricSet {
        &self.set
    }
}

impl Metrics {
    pub fn new(zone: &str) -> Metrics {
        let zone_label = || {
            [(
                std::borrow::Cow::Borrowed("zone"),
                std::borrow::Cow::Owned(zone.to_string()),
            )]
            .into_iter()
        };
        let mut registry = Registry::with_prefix_and_labels("arcane", zone_label());
        let set = ZoneMetricSet::register(&mut registry);
        // The process's own series carry the zone too, so a dashboard selects them by
        // zone rather than by a scrape job that differs between deployments.
        let mut process_registry = Registry::with_prefix_and_labels("process", zone_label());
        let process = ProcessMetrics::register(&mut process_registry);
        arcane_service::ProcessInfo::register(
            &mut registry,
            &mut process_registry,
            env!("CARGO_PKG_VERSION"),
        );
        let counters = |t: &TransportLabel| TransportCounters {
            bytes_sent: set.bytes_sent.get_or_create(t).clone(),
            bytes_received: set.bytes_received.get_or_create(t).clone(),
            messages_sent: set.messages_sent.get_or_create(t).clone(),
            messages_received: set.messages_received.get_or_create(t).clone(),
        };
        let (ws, quic) = (counters(&WS), counters(&QUIC));
        // Every known label value starts at zero, so dashboards and alerts see a series
        // (and a rate of 0) before the first event rather than "no data".
        for reason in KickReason::ALL {
            let reason = kick_label(reason).to_string();
            let _ = set.kicks.get_or_create(&ReasonLabel {
                reason: reason.clone(),
            });
            let _ = set
                .handshake_failures
                .get_or_create(&ReasonLabel { reason });
        }
        for r in RejectReason::ALL {
            let _ = set.inputs_rejected.get_or_create(&ReasonLabel {
                reason: r.as_str().into(),
            });
        }
        for r in CastRejectReason::ALL {
            let _ = set.casts_rejected.get_or_create(&ReasonLabel {
                reason: r.as_str().into(),
            });
        }
        for result in ["committed", "aborted"] {
            let _ = set.transfers.get_or_create(&ResultLabel { result });
        }
        for result in ["ok", "failed"] {
            let _ = set.checkpoints.get_or_create(&ResultLabel { result });
        }
        for result in ["applied", "rejected"] {
            let _ = set.content_reloads.get_or_create(&ResultLabel { result });
        }
        Metrics {
            ws,
            quic,
            set,
            process,
            registry,
            process_registry,
            cpu_seen: AtomicU64::new(0),
        }
    }

    /// Adds what the engine's monotonic counters gained since `last` (the tick thread
    /// keeps `last`) to the exported ones.
    pub fn observe_engine(&self, last: &ZoneCounters, now: &ZoneCounters) {
        self.inputs_applied
            .inc_by(now.inputs_applied - last.inputs_applied);
        self.inputs_superseded
            .inc_by(now.inputs_superseded - last.inputs_superseded);
        add_by_reason(
            &self.inputs_rejected,
            RejectReason::ALL.map(|r| r.as_str()),
            &now.inputs_rejected,
            &last.inputs_rejected,
        );
        self.snapshots.inc_by(now.snapshots - last.snapshots);
        self.full_snapshots
            .inc_by(now.full_snapshots - last.full_snapshots);
        self.snapshot_bytes
            .inc_by(now.snapshot_bytes - last.snapshot_bytes);
        self.casts.inc_by(now.casts - last.casts);
        add_by_reason(
            &self.casts_rejected,
            CastRejectReason::ALL.map(|r| r.as_str()),
            &now.cast_rejected,
            &last.cast_rejected,
        );
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
        self.system_faults
            .inc_by(now.system_faults - last.system_faults);
        self.observe_creatures(last, now);
    }

    fn observe_creatures(&self, last: &ZoneCounters, now: &ZoneCounters) {
        self.creature_births
            .inc_by(now.creature_births - last.creature_births);
        self.creature_deaths
            .inc_by(now.creature_deaths - last.creature_deaths);
        self.captures.inc_by(now.captures - last.captures);
        self.capture_escapes
            .inc_by(now.capture_escapes - last.capture_escapes);
        self.breeds.inc_by(now.breeds - last.breeds);
        self.hatches.inc_by(now.hatches - last.hatches);
        add_by_reason(
            &self.captures_refused,
            CaptureRefusal::ALL.map(|r| r.as_str()),
            &now.capture_refused,
            &last.capture_refused,
        );
        add_by_reason(
            &self.breeds_refused,
            BreedRefusal::ALL.map(|r| r.as_str()),
            &now.breed_refused,
            &last.breed_refused,
        );
    }

    /// Shows the wild population per species.
    pub fn set_creature_population(&self, population: &[(String, u64)]) {
        for (species, n) in population {
            self.creature_population
                .get_or_create(&SpeciesLabel {
                    species: species.clone(),
                })
                .set(*n as i64);
        }
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

    pub fn chat(&self, channel: &'static str) {
        self.chat_messages
            .get_or_create(&ChannelLabel { channel })
            .inc();
    }

    pub fn chat_refusal(&self, reason: arcane_protocol::ChatRefusal) {
        self.chat_refused
            .get_or_create(&ReasonLabel {
                reason: reason.as_str().into(),
            })
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
        if let Some((cpu_ticks, ticks_per_second, rss_bytes)) = read_proc_self() {
            let seen = self.cpu_seen.swap(cpu_ticks, Ordering::Relaxed);
            if cpu_ticks > seen {
                self.process
                    .cpu_seconds
                    .inc_by((cpu_ticks - seen) as f64 / ticks_per_second as f64);
            }
            self.process.resident_memory.set(rss_bytes as i64);
        }
    }

    pub fn encode(&self) -> String {
        self.refresh_process();
        arcane_service::encode_registries(&[&self.process_registry, &self.registry])
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
        KickReason::Moderator => "moderator",
    }
}

/// (utime + stime in clock ticks, clock ticks per second, resident bytes) of this
/// process, from /proc through `procfs` (the kernel's own tick rate and page size).
#[cfg(target_os = "linux")]
fn read_proc_self() -> Option<(u64, u64, u64)> {
    let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
    let rss = procfs::WithCurrentSystemInfo::get(stat.rss_bytes());
    Some((stat.utime + stat.stime, procfs::ticks_per_second(), rss))
}

#[cfg(not(target_os = "linux"))]
fn read_proc_self() -> Option<(u64, u64, u64)> {
    None
}
