//! The orchestrator's Prometheus metrics: logins and transfers by result, transfer
//! commit latency, instances and copies opened, and the zones in the registry by kind.

use std::time::Duration;

use arcane_service::metric_set;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::registry::ZoneStatus;
use arcane_store::HandoffStatus;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ZoneKindLabel {
    /// `shared`, `copy` or `instance`.
    pub kind: &'static str,
    /// `up` or `down`.
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    pub channel: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    pub request: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub action: String,
}

metric_set! {
    /// The `arcane_orchestrator_*` metrics.
    pub struct OrchestratorMetricSet {
        logins: Family<ResultLabel, Counter> => "logins", "Logins by result";
        transfers: Family<ResultLabel, Counter> =>
            "transfers", "Zone transfers resolved, by result (committed, aborted)";
        transfer_commit: Histogram = Histogram::new([
            0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
        ]) => "transfer_commit_seconds", "Time to resolve a transfer's target and commit it";
        instances_opened: Counter => "instances_opened", "Instances opened for parties";
        copies_opened: Counter => "overflow_copies_opened", "Overflow copies opened for full zones";
        zones: Family<ZoneKindLabel, Gauge> => "zones", "Registered zones by kind and state";
        chat: Family<ChannelLabel, Counter> => "chat_routed", "Chat messages routed across zones, by channel";
        chat_refusals: Family<ReasonLabel, Counter> => "chat_refused", "Cross-zone chat refused, by reason";
        chat_route_seconds: Histogram = Histogram::new([
            0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
        ]) => "chat_route_seconds", "From the speaker's zone accepting a whisper or party message to its routing here";
        social_requests: Family<RequestLabel, Counter> => "social_requests", "Friend, block and party requests, by kind and result";
        parties_created: Counter => "parties_created", "Parties created";
        presence_updates: Counter => "presence_updates", "Players coming online, going offline or changing zone";
        social_links: Gauge => "social_links", "Zones' social links ending at this replica";
        social_dropped: Counter => "social_dropped", "Social messages that could not be handed to a zone (link full, unreachable)";
        social_bounced: Counter => "social_bounced", "Deliveries a zone bounced (the player had moved on) and that were tried again";
        social_malformed: Counter => "social_malformed", "Social link frames that did not parse";
        moderation_actions: Family<ActionLabel, Counter> => "moderation", "Moderation actions and filter hits, by action";
        control_refused: Counter => "control_refused",
            "Control calls (registrations, heartbeats, transfers) refused for a missing or bad signature";
    }
}

/// The orchestrator's metrics and their registry (the set through `Deref`).
pub struct OrchestratorMetrics {
    registry: Registry,
    /// `process_start_time_seconds`.
    process_registry: Registry,
    set: OrchestratorMetricSet,
}

impl std::ops::Deref for OrchestratorMetrics {
    type Target = OrchestratorMetricSet;
    fn deref(&self) -> &OrchestratorMetricSet {
        &self.set
    }
}

impl Default for OrchestratorMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl OrchestratorMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("arcane_orchestrator");
        let set = OrchestratorMetricSet::register(&mut registry);
        let mut process_registry = Registry::with_prefix("process");
        arcane_service::ProcessInfo::register(
            &mut registry,
            &mut process_registry,
            env!("CARGO_PKG_VERSION"),
        );
        // Known results start at zero, so a rate exists before the first event.
        for result in ["ok", "refused", "unavailable"] {
            let _ = set.logins.get_or_create(&ResultLabel { result });
        }
        for result in ["committed", "aborted"] {
            let _ = set.transfers.get_or_create(&ResultLabel { result });
        }
        OrchestratorMetrics {
            registry,
            process_registry,
            set,
        }
    }

    pub fn chat_routed(&self, channel: &'static str) {
        self.chat.get_or_create(&ChannelLabel { channel }).inc();
    }

    pub fn chat_refused(&self, reason: &'static str) {
        self.chat_refusals
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn social_request(&self, request: &'static str, ok: bool) {
        let result = if ok { "done" } else { "refused" };
        self.social_requests
            .get_or_create(&RequestLabel { request, result })
            .inc();
    }

    pub fn moderation(&self, action: &str) {
        // Zones name their audit actions; only known ones become labels.
        let action = match action {
            "mute" | "unmute" | "kick" | "filter" => action,
            _ => "other",
        };
        self.moderation_actions
            .get_or_create(&ActionLabel {
                action: action.to_string(),
            })
            .inc();
    }

    pub fn login(&self, result: &'static str) {
        self.logins.get_or_create(&ResultLabel { result }).inc();
    }

    pub fn transfer(&self, outcome: &HandoffStatus, took: Duration) {
        let result = match outcome {
            HandoffStatus::Committed { .. } => "committed",
            HandoffStatus::Aborted => "aborted",
            HandoffStatus::Pending => "pending",
        };
        self.transfers.get_or_create(&ResultLabel { result }).inc();
        self.transfer_commit.observe(took.as_secs_f64());
    }

    /// Sets the zone gauges from the registry.
    pub fn observe_zones(&self, zones: &[ZoneStatus]) {
        self.zones.clear();
        for kind in ["shared", "copy", "instance"] {
            for state in ["up", "down"] {
                self.zones
                    .get_or_create(&ZoneKindLabel { kind, state })
                    .set(0);
            }
        }
        for z in zones {
            let kind = if z.info.instance {
                "instance"
            } else if z.info.zone_id.contains('~') {
                "copy"
            } else {
                "shared"
            };
            let state = if z.up { "up" } else { "down" };
            self.zones
                .get_or_create(&ZoneKindLabel { kind, state })
                .inc();
        }
    }

    pub fn encode(&self) -> String {
        arcane_service::encode_registries(&[&self.process_registry, &self.registry])
    }
}
