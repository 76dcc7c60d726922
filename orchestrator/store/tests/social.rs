//! Friends, blocks and mutes, parties and invitations, moderator mutes and the audit,
//! on SQLite and PostgreSQL: every refusal changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod services;

use arcane_control_api::AuditEntry;
use arcane_protocol::SocialRefusal;
use arcane_store::{ListKind, Store};

async fn player(store: &Store, name: &str) -> u64 {
    store
        .login(&services::unique(name), "meadow", (1.0, 1.0), (100, 10))
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn lists_add_remove_and_refuse_oneself_and_a_full_list() {
    let (stores, _dir) = services::stores("arcane-social-").await;
    for (db, s) in stores {
        let (a, b, c) = (
            player(&s, "ann").await,
            player(&s, "bob").await,
            player(&s, "cy").await,
        );
        assert_eq!(
            s.list_add(a, ListKind::Friend, a, 5).await.unwrap(),
            Err(SocialRefusal::Yourself),
            "{db}"
        );
        s.list_add(a, ListKind::Friend, b, 2)
            .await
            .unwrap()
            .unwrap();
        s.list_add(a, ListKind::Friend, b, 2)
            .await
            .unwrap()
            .unwrap();
        s.list_add(a, ListKind::Friend, c, 2)
            .await
            .unwrap()
            .unwrap();
        let d = player(&s, "di").await;
        assert_eq!(
            s.list_add(a, ListKind::Friend, d, 2).await.unwrap(),
            Err(SocialRefusal::ListFull),
            "{db}"
        );
        assert_eq!(s.list(a, ListKind::Friend).await.unwrap().len(), 2, "{db}");
        assert_eq!(
            s.listed_by(b, ListKind::Friend).await.unwrap(),
            vec![a],
            "{db}"
        );

        s.list_add(a, ListKind::Block, b, 5).await.unwrap().unwrap();
        s.list_add(a, ListKind::Mute, c, 5).await.unwrap().unwrap();
        let mut hidden = s.hidden(a).await.unwrap();
        hidden.sort_unstable();
        assert_eq!(hidden, vec![b.min(c), b.max(c)], "{db}");
        assert!(s.listed(a, ListKind::Block, b).await.unwrap());
        assert!(!s.listed(b, ListKind::Block, a).await.unwrap());
        assert!(s.list_remove(a, ListKind::Block, b).await.unwrap());
        assert!(!s.list_remove(a, ListKind::Block, b).await.unwrap());
        assert_eq!(s.hidden(a).await.unwrap(), vec![c], "{db}");
    }
}

#[tokio::test]
async fn a_party_takes_invited_players_up_to_its_size_and_hands_over_its_lead() {
    let (stores, _dir) = services::stores("arcane-social-").await;
    for (db, s) in stores {
        let ids = [
            player(&s, "lead").await,
            player(&s, "two").await,
            player(&s, "three").await,
            player(&s, "four").await,
        ];
        let party = s.create_party(ids[0], 1).await.unwrap().unwrap();
        assert_eq!(
            s.create_party(ids[0], 1).await.unwrap(),
            Err(SocialRefusal::AlreadyInParty),
            "{db}"
        );
        // Without an invitation, or with an expired one, nobody gets in.
        assert_eq!(
            s.accept_invite(&party, ids[1], 3, 10).await.unwrap(),
            Err(SocialRefusal::NoInvite)
        );
        s.invite(&party, ids[1], ids[0], 5).await.unwrap();
        assert_eq!(
            s.accept_invite(&party, ids[1], 3, 10).await.unwrap(),
            Err(SocialRefusal::NoInvite),
            "{db}: expired"
        );
        for &p in &ids[1..] {
            s.invite(&party, p, ids[0], 1_000).await.unwrap();
        }
        s.accept_invite(&party, ids[1], 3, 10)
            .await
            .unwrap()
            .unwrap();
        s.accept_invite(&party, ids[2], 3, 10)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            s.accept_invite(&party, ids[3], 3, 10).await.unwrap(),
            Err(SocialRefusal::PartyFull),
            "{db}"
        );
        let p = s.party_of(ids[2]).await.unwrap().unwrap();
        assert_eq!(p.leader, ids[0]);
        assert_eq!(
            p.members.iter().map(|m| m.0).collect::<Vec<_>>(),
            ids[..3].to_vec(),
            "{db}"
        );

        // The leader leaves: the lowest id left leads.
        let d = s.leave_party(ids[0]).await.unwrap().unwrap();
        assert_eq!(d.remaining, ids[1..3].to_vec());
        assert_eq!(
            s.party(&party).await.unwrap().unwrap().leader,
            ids[1],
            "{db}"
        );
        assert!(s.party_of(ids[0]).await.unwrap().is_none());
        s.set_leader(&party, ids[2]).await.unwrap();
        assert_eq!(s.party(&party).await.unwrap().unwrap().leader, ids[2]);
        s.leave_party(ids[1]).await.unwrap().unwrap();
        let last = s.leave_party(ids[2]).await.unwrap().unwrap();
        assert!(last.remaining.is_empty());
        assert!(
            s.party(&party).await.unwrap().is_none(),
            "{db}: the last one out ends it"
        );
        assert!(s.leave_party(ids[2]).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_party_named_at_login_is_made_once_and_joined_after() {
    let (stores, _dir) = services::stores("arcane-social-").await;
    for (db, s) in stores {
        let (a, b) = (player(&s, "bot").await, player(&s, "bot").await);
        let name = services::unique("red");
        s.join_named_party(a, &name, 1).await.unwrap();
        s.join_named_party(b, &name, 2).await.unwrap();
        let p = s.party(&name).await.unwrap().unwrap();
        assert_eq!((p.leader, p.members.len()), (a, 2), "{db}");
        assert_eq!(
            s.party_zones(&name).await.unwrap(),
            vec!["meadow".to_string()],
            "{db}: placement keeps them together"
        );
    }
}

#[tokio::test]
async fn mutes_and_the_audit_are_kept() {
    let (stores, _dir) = services::stores("arcane-social-").await;
    for (db, s) in stores {
        let a = player(&s, "loud").await;
        assert_eq!(s.chat_mute(a).await.unwrap(), 0);
        s.set_chat_mute(a, 9_000).await.unwrap();
        assert_eq!(s.chat_mute(a).await.unwrap(), 9_000, "{db}");
        s.set_chat_mute(a, 0).await.unwrap();
        assert_eq!(s.chat_mute(a).await.unwrap(), 0);
        let at = i64::MAX / 2 + (a as i64);
        let entry = AuditEntry {
            at_ms: at,
            actor: "gm-ann".into(),
            action: "mute".into(),
            player_id: a,
            reason: "spam".into(),
            detail: "10 min".into(),
        };
        s.audit(&entry).await.unwrap();
        let log = s.audit_log(10).await.unwrap();
        assert!(log.contains(&entry), "{db}: {log:?}");
    }
}
