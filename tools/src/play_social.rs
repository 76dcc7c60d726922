//! The chat and social commands of `arcane play`: `say TEXT`, `shout TEXT` (the
//! zone), `p TEXT` (the party), `w NAME TEXT` (a whisper), `friend`/`unfriend`,
//! `block`/`unblock`, `mute`/`unmute NAME`, `status`, and `party create`, `party
//! invite NAME`, `party accept ID`, `party decline ID`, `party leave`, `party kick
//! NAME`, `party promote NAME`; and how their answers are printed.

use anyhow::Context as _;
use arcane_protocol::{ChatChannel, ClientMessage, EventKind, SocialEvent, SocialRequest};

/// The messages a chat or social command sends; `None` when the line is not one.
pub fn command(line: &str) -> Option<anyhow::Result<Vec<ClientMessage>>> {
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let chat = |channel, text: &str| {
        Some(Ok(vec![ClientMessage::Chat {
            channel,
            text: text.to_string(),
        }]))
    };
    let name = || -> anyhow::Result<String> {
        let n = rest
            .split_whitespace()
            .next()
            .context("expected a player name")?;
        Ok(n.to_string())
    };
    let request =
        |r: anyhow::Result<SocialRequest>| Some(r.map(|r| vec![ClientMessage::Social(r)]));
    use SocialRequest as Q;
    match verb {
        "say" => chat(ChatChannel::Say, rest),
        "shout" => chat(ChatChannel::Zone, rest),
        "p" => chat(ChatChannel::Party, rest),
        "w" => {
            let (to, text) = rest.split_once(' ').unwrap_or((rest, ""));
            chat(ChatChannel::Whisper { to: to.to_string() }, text)
        }
        "status" => request(Ok(Q::Status)),
        "friend" => request(name().map(|name| Q::FriendAdd { name })),
        "unfriend" => request(name().map(|name| Q::FriendRemove { name })),
        "block" => request(name().map(|name| Q::Block { name })),
        "unblock" => request(name().map(|name| Q::Unblock { name })),
        "mute" => request(name().map(|name| Q::Mute { name })),
        "unmute" => request(name().map(|name| Q::Unmute { name })),
        "party" => {
            let mut words = rest.split_whitespace();
            let what = words.next().unwrap_or("");
            let arg = words.next().map(str::to_string);
            let need = |a: Option<String>| a.context("expected a name or party id");
            request(match what {
                "create" => Ok(Q::PartyCreate),
                "leave" => Ok(Q::PartyLeave),
                "invite" => need(arg).map(|name| Q::PartyInvite { name }),
                "accept" => need(arg).map(|party| Q::PartyAccept { party }),
                "decline" => need(arg).map(|party| Q::PartyDecline { party }),
                "kick" => need(arg).map(|name| Q::PartyKick { name }),
                "promote" => need(arg).map(|name| Q::PartyPromote { name }),
                other => Err(anyhow::anyhow!("unknown party command {other:?}")),
            })
        }
        _ => None,
    }
}

/// Prints a chat or social event; false when it is neither.
pub fn print(kind: &EventKind) -> bool {
    match kind {
        EventKind::Chat {
            channel,
            from,
            text,
            ..
        } => println!("[{}] {from}: {text}", channel.as_str()),
        EventKind::ChatRefused { reason, detail } => {
            println!("chat refused ({reason:?}): {detail}")
        }
        EventKind::Social(s) => match &**s {
            SocialEvent::Done { request, detail } => println!("{request}: {detail}"),
            SocialEvent::Refused {
                request,
                reason,
                detail,
            } => println!("{request} refused ({reason:?}): {detail}"),
            SocialEvent::Invited { party, from } => {
                println!("{from} invites you to party {party} (party accept {party})");
            }
            SocialEvent::Party(None) => println!("party: none"),
            SocialEvent::Party(Some(p)) => {
                let members: Vec<String> = p
                    .members
                    .iter()
                    .map(|m| {
                        let at = if m.zone.is_empty() {
                            "offline"
                        } else {
                            &m.zone
                        };
                        let lead = if m.leader { "*" } else { "" };
                        format!("{lead}{} ({at}, {}/{} HP)", m.name, m.hp, m.max_hp)
                    })
                    .collect();
                println!("party {}: {}", p.id, members.join(", "));
            }
            SocialEvent::Presence { name, zone } if zone.is_empty() => {
                println!("{name} went offline")
            }
            SocialEvent::Presence { name, zone } => println!("{name} is in {zone}"),
            SocialEvent::Lists {
                friends,
                blocked,
                muted,
            } => {
                let friends: Vec<String> = friends
                    .iter()
                    .map(|f| {
                        format!(
                            "{} ({})",
                            f.name,
                            if f.zone.is_empty() {
                                "offline"
                            } else {
                                &f.zone
                            }
                        )
                    })
                    .collect();
                println!(
                    "friends: {}; blocked: {blocked:?}; muted: {muted:?}",
                    friends.join(", ")
                );
            }
        },
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_chat_and_requests() {
        let one = |line: &str| command(line).unwrap().unwrap().remove(0);
        assert_eq!(
            one("w bob hello there"),
            ClientMessage::Chat {
                channel: ChatChannel::Whisper { to: "bob".into() },
                text: "hello there".into()
            }
        );
        assert_eq!(
            one("party invite ann"),
            ClientMessage::Social(SocialRequest::PartyInvite { name: "ann".into() })
        );
        assert!(command("party invite").unwrap().is_err());
        assert!(command("near").is_none());
    }
}
