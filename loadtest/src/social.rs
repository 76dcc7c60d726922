//! A social bot's decisions, without I/O: one chat message every `chat_every` on a
//! channel drawn at random (say, zone, party, or a whisper to another social bot of
//! the swarm, often in the other zone), parties of four formed in the game (every
//! fourth social bot creates one and invites the next three, who accept), and what each message's
//! delivery took. Every bot of a swarm runs in one process, so a message's text
//! carries its send time on the swarm's clock and any reader measures the delivery.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arcane_protocol::{ChatChannel, ClientMessage, EventKind, SocialEvent, SocialRequest};
use hdrhistogram::Histogram;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::report::{LatencyMs, SocialFigures};

/// Bots per party (a leader and three followers).
pub const PARTY: usize = 4;

/// The swarm's clock: send times in chat texts count from here.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The swarm's social counters, with the latency histograms behind `latency_ms`.
#[derive(Default)]
pub struct SocialStats {
    pub figures: SocialFigures,
    latency_us: BTreeMap<&'static str, Histogram<u64>>,
}

impl SocialStats {
    fn delivered(&mut self, channel: &'static str, us: u64) {
        *self.figures.delivered.entry(channel.into()).or_default() += 1;
        let h = self
            .latency_us
            .entry(channel)
            .or_insert_with(|| Histogram::new(3).unwrap_or_else(|_| unreachable!()));
        let _ = h.record(us.max(1));
    }

    /// The counts and latencies restart at the end of the ramp (parties formed in
    /// the ramp stay counted).
    pub fn reset_latency(&mut self) {
        for h in self.latency_us.values_mut() {
            h.reset();
        }
        self.figures.delivered.clear();
        self.figures.sent.clear();
        self.figures.refused.clear();
    }

    pub fn report(&self) -> SocialFigures {
        let mut f = self.figures.clone();
        f.latency_ms = self
            .latency_us
            .iter()
            .map(|(c, h)| (c.to_string(), LatencyMs::of(h)))
            .collect();
        f
    }
}

/// One social bot's plan and state (kept across its connections).
#[derive(Debug)]
pub struct SocialBot {
    name: String,
    /// The social bots of the swarm, by name: whisper targets and party members.
    others: Vec<String>,
    /// This bot's place among them.
    index: usize,
    every: Duration,
    next_chat: Option<Instant>,
    /// Requests and answers waiting for the next input frame.
    pending: Vec<ClientMessage>,
    asked_party: bool,
    /// The members of the bot's party as last shown (empty: in none).
    party: Vec<String>,
    /// Its own stream, so chatting changes nothing of how the bot walks (a run with
    /// chat and one without walk the same).
    rng: ChaCha8Rng,
}

/// The name of bot `i` of a swarm whose first player id is `first`.
pub fn bot_name(first: u64, i: usize) -> String {
    format!("bot{}", first + i as u64)
}

impl SocialBot {
    /// Social bot `bot` of a swarm whose social bots are `peers` (bot indices, in
    /// order): parties are made of four peers in a row.
    pub fn new(bot: usize, first_player: u64, peers: &[usize], every: Duration) -> SocialBot {
        let _ = epoch();
        SocialBot {
            name: bot_name(first_player, bot),
            others: peers.iter().map(|&i| bot_name(first_player, i)).collect(),
            index: peers.iter().position(|&i| i == bot).unwrap_or(0),
            every: every.max(Duration::from_millis(100)),
            next_chat: None,
            pending: Vec::new(),
            asked_party: false,
            party: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(0x50c1a1 ^ bot as u64),
        }
    }

    fn leads(&self) -> bool {
        self.index.is_multiple_of(PARTY)
    }

    fn leader(&self) -> &str {
        &self.others[self.index - self.index % PARTY]
    }

    /// What to send with the input at `now`: waiting requests and answers, and a chat
    /// message when one is due (the first after a random part of the interval).
    pub fn due(&mut self, now: Instant, figures: &mut SocialFigures) -> Vec<ClientMessage> {
        let leads = self.leads();
        let rng = &mut self.rng;
        let mut out = std::mem::take(&mut self.pending);
        if leads && !self.asked_party {
            self.asked_party = true;
            out.push(ClientMessage::Social(SocialRequest::PartyCreate));
        }
        let next = *self.next_chat.get_or_insert_with(|| {
            let ms = self.every.as_millis() as u64;
            now + Duration::from_millis(rng.next_u64() % ms.max(1))
        });
        if now >= next {
            self.next_chat = Some(next + self.every);
            // A leader invites whoever of its three is not in yet (they may not have
            // logged in at the first try).
            if leads && self.party.first() == Some(&self.name) {
                let missing: Vec<String> = (self.index + 1..self.index + PARTY)
                    .filter_map(|i| self.others.get(i))
                    .filter(|n| !self.party.contains(n))
                    .cloned()
                    .collect();
                for name in missing {
                    out.push(ClientMessage::Social(SocialRequest::PartyInvite { name }));
                }
            }
            let channel = match rng.next_u32() % 20 {
                0..8 => ChatChannel::Say,
                8..13 if !self.party.is_empty() => ChatChannel::Party,
                8..13 => ChatChannel::Say,
                13..19 => {
                    let mut to = self.index;
                    while to == self.index && self.others.len() > 1 {
                        to = rng.next_u32() as usize % self.others.len();
                    }
                    ChatChannel::Whisper {
                        to: self.others[to].clone(),
                    }
                }
                _ => ChatChannel::Zone,
            };
            *figures.sent.entry(channel.as_str().into()).or_default() += 1;
            let sent_us = now.saturating_duration_since(epoch()).as_micros();
            out.push(ClientMessage::Chat {
                channel,
                text: format!("t{sent_us} from {}", self.name),
            });
        }
        out
    }

    /// What an event means to this bot: a delivery to measure, an invitation to
    /// accept, its new party to fill, a refusal to count.
    pub fn on_event(&mut self, kind: &EventKind, now: Instant, stats: &mut SocialStats) {
        match kind {
            EventKind::Chat {
                channel,
                from,
                text,
                ..
            } if *from != self.name => {
                if let Some(sent) = text
                    .strip_prefix('t')
                    .and_then(|t| t.split(' ').next())
                    .and_then(|t| t.parse::<u64>().ok())
                {
                    let now_us = now.saturating_duration_since(epoch()).as_micros() as u64;
                    stats.delivered(channel.as_str(), now_us.saturating_sub(sent));
                }
            }
            EventKind::ChatRefused { reason, .. } => {
                *stats
                    .figures
                    .refused
                    .entry(reason.as_str().into())
                    .or_default() += 1;
            }
            EventKind::Social(s) => self.on_social(s, stats),
            _ => {}
        }
    }

    fn on_social(&mut self, s: &SocialEvent, stats: &mut SocialStats) {
        match s {
            SocialEvent::Invited { party, from } => {
                stats.figures.invites += 1;
                if from == self.leader() {
                    self.pending
                        .push(ClientMessage::Social(SocialRequest::PartyAccept {
                            party: party.clone(),
                        }));
                }
            }
            SocialEvent::Party(view) => {
                let was_alone = self.party.len() <= 1;
                self.party = view
                    .iter()
                    .flat_map(|p| p.members.iter().map(|m| m.name.clone()))
                    .collect();
                // A new party of one, led by this bot: invite its three at once.
                if self.leads() && was_alone && self.party == [self.name.clone()] {
                    let followers =
                        (self.index + 1..self.index + PARTY).filter_map(|i| self.others.get(i));
                    for name in followers {
                        self.pending
                            .push(ClientMessage::Social(SocialRequest::PartyInvite {
                                name: name.clone(),
                            }));
                    }
                }
            }
            SocialEvent::Done { request, .. } if request == "party_accept" => {
                stats.figures.accepted += 1;
            }
            SocialEvent::Refused { reason, .. } => {
                *stats
                    .figures
                    .requests_refused
                    .entry(reason.as_str().into())
                    .or_default() += 1;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcane_protocol::{PartyMember, PartyView};

    const PEERS: [usize; 10] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

    fn party_of(names: &[&str]) -> EventKind {
        let members = names
            .iter()
            .enumerate()
            .map(|(i, n)| PartyMember {
                player_id: i as u64,
                name: n.to_string(),
                leader: i == 0,
                zone: "meadow".into(),
                hp: 1,
                max_hp: 1,
            })
            .collect();
        EventKind::Social(Box::new(SocialEvent::Party(Some(PartyView {
            id: "p1".into(),
            members,
        }))))
    }

    /// Whom these messages invite.
    fn invited(msgs: Vec<ClientMessage>) -> Vec<String> {
        msgs.into_iter()
            .filter_map(|m| match m {
                ClientMessage::Social(SocialRequest::PartyInvite { name }) => Some(name),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_leader_creates_a_party_and_invites_the_next_three_who_accept() {
        let (mut stats, now) = (SocialStats::default(), Instant::now());
        let mut lead = SocialBot::new(4, 100, &PEERS, Duration::from_secs(5));
        let first = lead.due(now, &mut stats.figures);
        assert!(first.contains(&ClientMessage::Social(SocialRequest::PartyCreate)));
        lead.on_event(&party_of(&["bot104"]), now, &mut stats);
        let invites = invited(lead.due(now, &mut stats.figures));
        assert_eq!(invites, ["bot105", "bot106", "bot107"]);

        let mut follower = SocialBot::new(6, 100, &PEERS, Duration::from_secs(5));
        assert!(!follower.leads());
        let invited = EventKind::Social(Box::new(SocialEvent::Invited {
            party: "p1".into(),
            from: "bot104".into(),
        }));
        follower.on_event(&invited, now, &mut stats);
        let out = follower.due(now, &mut stats.figures);
        assert!(
            out.contains(&ClientMessage::Social(SocialRequest::PartyAccept {
                party: "p1".into()
            }))
        );
        assert!(!out.contains(&ClientMessage::Social(SocialRequest::PartyCreate)));
        // An invitation from someone else is not taken.
        let stranger = EventKind::Social(Box::new(SocialEvent::Invited {
            party: "p9".into(),
            from: "bot100".into(),
        }));
        follower.on_event(&stranger, now, &mut stats);
        assert!(follower.pending.is_empty());
    }

    #[test]
    fn one_message_per_interval_and_deliveries_are_timed_per_channel() {
        let mut stats = SocialStats::default();
        let mut bot = SocialBot::new(1, 100, &PEERS, Duration::from_secs(5));
        let t0 = Instant::now();
        let mut sent = Vec::new();
        for ms in (0..20_000).step_by(50) {
            let at = t0 + Duration::from_millis(ms);
            for m in bot.due(at, &mut stats.figures) {
                if let ClientMessage::Chat { channel, text } = m {
                    assert!(!matches!(&channel, ChatChannel::Whisper { to } if to == "bot101"));
                    sent.push((channel, text, at));
                }
            }
        }
        assert_eq!(sent.len(), 4, "every 5 s over 20 s");
        let (channel, text, at) = sent[0].clone();
        let mut reader = SocialBot::new(2, 100, &PEERS, Duration::from_secs(5));
        let chat = EventKind::Chat {
            channel: channel.clone(),
            from_id: 101,
            from: "bot101".into(),
            text,
        };
        reader.on_event(&chat, at + Duration::from_millis(30), &mut stats);
        let report = stats.report();
        assert_eq!(report.delivered[channel.as_str()], 1);
        let p50 = report.latency_ms[channel.as_str()].p50;
        assert!((29.0..31.0).contains(&p50), "{p50}");
    }

    #[test]
    fn parties_are_made_of_social_bots_only() {
        // In a mix, social bots are every eighth: 4, 12, 20, 28, 36.
        let peers = [4, 12, 20, 28, 36];
        let (mut stats, now) = (SocialStats::default(), Instant::now());
        let mut lead = SocialBot::new(4, 1, &peers, Duration::from_secs(5));
        lead.due(now, &mut stats.figures);
        lead.on_event(&party_of(&["bot5"]), now, &mut stats);
        let invites = invited(lead.due(now, &mut stats.figures));
        assert_eq!(invites, ["bot13", "bot21", "bot29"]);
        let fifth = SocialBot::new(36, 1, &peers, Duration::from_secs(5));
        assert!(fifth.leads(), "the fifth social bot leads the next party");
    }
}
