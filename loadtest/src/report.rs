//! The swarm's report: a k6-style text summary and a JSON document, plus thresholds.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LatencyMs {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl LatencyMs {
    /// The quantiles of a histogram of microseconds, in ms (zeros when it is empty).
    pub fn of(us: &Histogram<u64>) -> Self {
        LatencyMs {
            p50: quantile_ms(us, 0.50),
            p95: quantile_ms(us, 0.95),
            p99: quantile_ms(us, 0.99),
            max: if us.is_empty() {
                0.0
            } else {
                us.max() as f64 / 1e3
            },
        }
    }
}

/// Quantile `q` of a histogram of microseconds, in ms (0 when it is empty).
pub(crate) fn quantile_ms(us: &Histogram<u64>, q: f64) -> f64 {
    if us.is_empty() {
        0.0
    } else {
        us.value_at_quantile(q) as f64 / 1e3
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ServerFigures {
    pub ticks_per_s: f64,
    pub tick_ms_p99: f64,
    pub cpu_pct: f64,
    /// Process CPU time per connected client per tick, in microseconds.
    pub cpu_us_per_client_tick: f64,
}

/// What the bots did and what happened to them (from the zone's events).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GameplayFigures {
    /// Cast intents the bots sent.
    pub casts_sent: u64,
    /// Casts the zone accepted (`CastStarted` for a bot).
    pub casts: u64,
    /// Damage the bots dealt, in hits.
    pub hits: u64,
    /// Enemies the bots killed.
    pub kills: u64,
    pub deaths: u64,
    pub respawns: u64,
    /// Cast intents refused, by reason.
    pub cast_rejections: BTreeMap<String, u64>,
    /// Capture intents the tamers sent, and what came of them.
    pub captures_sent: u64,
    pub captures: u64,
    pub capture_escapes: u64,
    pub capture_refusals: BTreeMap<String, u64>,
    /// Breed intents the tamers sent, eggs laid, refusals by reason, eggs hatched.
    pub breeds_sent: u64,
    pub breeds: u64,
    pub breed_refusals: BTreeMap<String, u64>,
    pub hatches: u64,
}

/// What the social bots sent and received, for the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SocialFigures {
    /// Chat messages sent, by channel.
    pub sent: BTreeMap<String, u64>,
    /// Copies delivered to other bots, by channel (a say reaches everyone near).
    pub delivered: BTreeMap<String, u64>,
    /// Send → a reader's socket, by channel (every delivered copy).
    pub latency_ms: BTreeMap<String, LatencyMs>,
    /// Chat refused, by reason.
    pub refused: BTreeMap<String, u64>,
    /// Party invitations received and accepted, and parties the bots are in at the end.
    pub invites: u64,
    pub accepted: u64,
    /// Social requests refused, by reason.
    pub requests_refused: BTreeMap<String, u64>,
}

/// Zone transfers the bots went through (travellers crossing borders).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TransferFigures {
    /// `Redirect` messages received.
    pub redirects: u64,
    /// Redirects that ended with a welcome from the next zone.
    pub completed: u64,
    /// Logins repeated because a zone was unreachable or did not own the bot.
    pub relogins: u64,
    /// Redirect received → welcomed by the next zone.
    pub rejoin_ms_p50: f64,
    pub rejoin_ms_p99: f64,
}

/// Snapshot datagrams over QUIC: what arrived and the gaps in their sequence numbers.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DatagramFigures {
    pub received: u64,
    pub lost: u64,
    pub loss_pct: f64,
    /// What the lossy link (`--loss`) dropped, when there was one.
    pub link_dropped_pct: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    pub target: String,
    pub bots: usize,
    /// Bots that received a Welcome.
    pub connected: usize,
    /// Connection failures, undecodable frames and snapshots that did not apply.
    pub errors: u64,
    /// Connections closed by the server or the network before the end of the run.
    pub disconnects: u64,
    pub duration_s: f64,
    /// Input sent → a snapshot acknowledging it read off the bot's socket.
    pub latency_ms: LatencyMs,
    /// Snapshot read off the socket → its bot's logic got to it: the bot process's
    /// own queue (a thousand clients share one core), kept out of `latency_ms` since
    /// a real client has no such queue.
    pub bot_queue_ms: LatencyMs,
    /// An input's send time → its bot got to send it: the same queue on the way out.
    /// Latency counts from the actual send, but a late send can miss its tick.
    pub bot_send_delay_ms: LatencyMs,
    pub bytes_per_client_per_s: f64,
    pub snapshots_per_client_per_s: f64,
    pub inputs_sent: u64,
    /// Inputs the snapshot of the tick they were meant for did not acknowledge: they
    /// reached the zone after that tick began and waited a whole tick more (or were
    /// lost, or the bot was dead or changing zones).
    pub inputs_late: u64,
    /// How long before the zone's tick bots sent their inputs at the end (mean and
    /// largest, ms): tuned per bot from the zone's receipts unless the lead is fixed.
    pub input_lead_ms_mean: f64,
    pub input_lead_ms_max: f64,
    pub snapshots_received: u64,
    /// Bots that could not join (counted in `errors`), and the first one's reason.
    pub connect_errors: u64,
    pub first_connect_error: Option<String>,
    pub decode_errors: u64,
    pub apply_errors: u64,
    pub kicks: BTreeMap<String, u64>,
    pub gameplay: GameplayFigures,
    pub social: SocialFigures,
    pub transfers: TransferFigures,
    /// Average number of entities in a bot's decoded view at the end.
    pub mean_view_size: f64,
    /// `None` when no `--metrics` URL was given or the scrape failed.
    pub server: Option<ServerFigures>,
    pub transport: crate::client::Transport,
    pub datagrams: DatagramFigures,
}

/// Limits that make the run fail.
#[derive(Debug, Clone, Default)]
pub struct Thresholds {
    pub max_p99_ms: Option<f64>,
    pub max_errors: Option<u64>,
    pub max_disconnects: Option<u64>,
    pub min_connected: Option<usize>,
}

impl Report {
    /// Every broken threshold, as a sentence.
    pub fn check(&self, t: &Thresholds) -> Vec<String> {
        let mut broken = Vec::new();
        if let Some(max) = t.max_p99_ms
            && self.latency_ms.p99 > max
        {
            broken.push(format!(
                "latency p99 {:.1} ms > {max} ms",
                self.latency_ms.p99
            ));
        }
        if let Some(max) = t.max_errors
            && self.errors > max
        {
            broken.push(format!("errors {} > {max}", self.errors));
        }
        if let Some(max) = t.max_disconnects
            && self.disconnects > max
        {
            broken.push(format!("disconnects {} > {max}", self.disconnects));
        }
        if let Some(min) = t.min_connected
            && self.connected < min
        {
            broken.push(format!("connected {} < {min}", self.connected));
        }
        broken
    }

    /// The k6-style end-of-run summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let line = |s: &mut String, k: &str, v: String| s.push_str(&format!("  {k:.<32} {v}\n"));
        s.push_str(&format!(
            "\n  arcane-loadtest → {} ({:?})\n\n",
            self.target, self.transport
        ));
        line(
            &mut s,
            "bots",
            format!("{} connected of {}", self.connected, self.bots),
        );
        line(&mut s, "duration", format!("{:.1}s", self.duration_s));
        line(
            &mut s,
            "errors",
            format!(
                "{} (connect {}, decode {}, apply {})",
                self.errors, self.connect_errors, self.decode_errors, self.apply_errors
            ),
        );
        if let Some(e) = &self.first_connect_error {
            line(&mut s, "first connect error", e.clone());
        }
        line(
            &mut s,
            "disconnects",
            format!("{} {:?}", self.disconnects, self.kicks),
        );
        let l = &self.latency_ms;
        line(
            &mut s,
            "input→observed latency",
            format!(
                "p50={:.1}ms p95={:.1}ms p99={:.1}ms max={:.1}ms",
                l.p50, l.p95, l.p99, l.max
            ),
        );
        let (q, d) = (&self.bot_queue_ms, &self.bot_send_delay_ms);
        line(
            &mut s,
            "bot process delays",
            format!(
                "snapshot read→handled p50={:.1}ms p99={:.1}ms; input due→sent p50={:.1}ms p99={:.1}ms",
                q.p50, q.p99, d.p50, d.p99
            ),
        );
        line(
            &mut s,
            "bytes/client/s",
            format!("{:.0}", self.bytes_per_client_per_s),
        );
        line(
            &mut s,
            "snapshots/client/s",
            format!("{:.1}", self.snapshots_per_client_per_s),
        );
        line(
            &mut s,
            "inputs sent",
            format!(
                "{} ({} late for their tick; lead mean {:.1} ms, max {:.1} ms)",
                self.inputs_sent, self.inputs_late, self.input_lead_ms_mean, self.input_lead_ms_max
            ),
        );
        let d = &self.datagrams;
        if d.received + d.lost > 0 {
            let link = d
                .link_dropped_pct
                .map(|p| format!("; the link dropped {p:.1}% of packets"))
                .unwrap_or_default();
            line(
                &mut s,
                "snapshot datagram loss",
                format!(
                    "{:.2}% ({} lost of {}){link}",
                    d.loss_pct,
                    d.lost,
                    d.received + d.lost
                ),
            );
        }
        let g = &self.gameplay;
        if g.casts_sent > 0 || g.deaths > 0 {
            line(
                &mut s,
                "casts",
                format!("{} accepted of {} sent", g.casts, g.casts_sent),
            );
            line(&mut s, "hits / kills", format!("{} / {}", g.hits, g.kills));
            line(
                &mut s,
                "deaths / respawns",
                format!("{} / {}", g.deaths, g.respawns),
            );
            line(
                &mut s,
                "cast rejections",
                format!("{:?}", g.cast_rejections),
            );
        }
        if g.captures_sent > 0 || g.breeds_sent > 0 {
            line(
                &mut s,
                "captures",
                format!(
                    "{} of {} tried, {} escaped, refused {:?}",
                    g.captures, g.captures_sent, g.capture_escapes, g.capture_refusals
                ),
            );
            line(
                &mut s,
                "breeds / hatches",
                format!(
                    "{} eggs of {} tried, {} hatched, refused {:?}",
                    g.breeds, g.breeds_sent, g.hatches, g.breed_refusals
                ),
            );
        }
        let c = &self.social;
        if !c.sent.is_empty() {
            let per = |m: &BTreeMap<String, u64>| {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            line(&mut s, "chat sent", per(&c.sent));
            line(&mut s, "chat delivered", per(&c.delivered));
            let latency = c
                .latency_ms
                .iter()
                .map(|(k, l)| format!("{k} p50={:.1}ms p99={:.1}ms", l.p50, l.p99))
                .collect::<Vec<_>>()
                .join("; ");
            line(&mut s, "chat latency", latency);
            line(&mut s, "chat refused", format!("{:?}", c.refused));
            line(
                &mut s,
                "parties",
                format!(
                    "{} invitations, {} accepted; requests refused {:?}",
                    c.invites, c.accepted, c.requests_refused
                ),
            );
        }
        let t = &self.transfers;
        if t.redirects > 0 || t.relogins > 0 {
            line(
                &mut s,
                "zone transfers",
                format!(
                    "{} completed of {} redirects, {} re-logins",
                    t.completed, t.redirects, t.relogins
                ),
            );
            line(
                &mut s,
                "redirect→welcome",
                format!("p50={:.1}ms p99={:.1}ms", t.rejoin_ms_p50, t.rejoin_ms_p99),
            );
        }
        line(
            &mut s,
            "mean view size",
            format!("{:.1} entities", self.mean_view_size),
        );
        match &self.server {
            Some(sv) => {
                line(&mut s, "server ticks/s", format!("{:.2}", sv.ticks_per_s));
                line(
                    &mut s,
                    "server tick p99",
                    format!("≤{:.1}ms", sv.tick_ms_p99),
                );
                line(
                    &mut s,
                    "server cpu",
                    format!(
                        "{:.1}% ({:.2} µs/client/tick)",
                        sv.cpu_pct, sv.cpu_us_per_client_tick
                    ),
                );
            }
            None => line(&mut s, "server", "not scraped".into()),
        }
        s
    }
}

/// The JSON form of a report.
pub fn to_json(report: &Report) -> serde_json::Result<String> {
    serde_json::to_string_pretty(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_report_each_breach() {
        let r = Report {
            errors: 2,
            latency_ms: LatencyMs {
                p99: 80.0,
                ..Default::default()
            },
            connected: 9,
            ..Default::default()
        };
        let t = Thresholds {
            max_p99_ms: Some(60.0),
            max_errors: Some(0),
            max_disconnects: Some(0),
            min_connected: Some(10),
        };
        assert_eq!(r.check(&t).len(), 3);
        assert!(r.check(&Thresholds::default()).is_empty());
    }
}
