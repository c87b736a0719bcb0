use super::paging::*;
use super::policy::*;
use super::walk::*;
use crate::config::file::Config;
use chrono::{DateTime, TimeZone, Utc};

use crate::duration::Span;

fn config(policies: &str) -> Config {
    let text = format!(
        r#"
version: 1
plans:
  p: {{ impact: 2, escalation: front, acknowledge_timeout: 30m }}
contacts:
  alice: {{ email: alice@example.com, phone: "+4915112345678", engagement: [{{ via: email }}, {{ via: sms, after: 5m }}] }}
  bob: {{ email: bob@example.com }}
  carol: {{ phone: "+4915100000000" }}
escalation_policies:
{policies}
"#
    );
    match Config::parse(&text) {
        Ok(config) => config,
        Err(e) => panic!("test config: {e}"),
    }
}

const TWO_STAGES: &str = r#"
  front:
    repeat: 1
    stages:
      - { targets: [{ contact: alice }], timeout: 10m }
      - { targets: [{ contact: bob }, { contact: carol }], timeout: 15m, all_must_acknowledge: true }
"#;

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

#[test]
fn an_unacknowledged_walk_visits_every_stage_each_round_then_stops() {
    let config = config(TWO_STAGES);
    let (mut paging, pages) = start(&config.roster(), "front", "inc-1", 0, t(0));
    let first: Vec<_> = pages
        .iter()
        .map(|p| (p.contact.as_str(), p.via, p.due_at))
        .collect();
    assert_eq!(
        first,
        vec![("alice", Via::Email, t(0)), ("alice", Via::Sms, t(5))]
    );
    assert_eq!(paging.next_at, Some(t(10)));
    assert_eq!(
        advance(&config.roster(), &mut paging, "inc-1", 0, t(9)),
        None
    );
    let mut visited = vec![(paging.round, paging.stage, paging.engaged.clone())];
    let mut now = t(10);
    loop {
        match advance(&config.roster(), &mut paging, "inc-1", 0, now) {
            Some((Advance::NextStage, pages)) => {
                assert!(pages.iter().all(|p| p.wave == paging.wave));
                visited.push((paging.round, paging.stage, paging.engaged.clone()));
            }
            Some((Advance::Exhausted, pages)) => {
                assert!(pages.is_empty());
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
        now = paging.next_at.unwrap_or(now);
    }
    let alice = vec!["alice".to_string()];
    let bob_carol = vec!["bob".to_string(), "carol".to_string()];
    assert_eq!(
        visited,
        vec![
            (0, 0, alice.clone()),
            (0, 1, bob_carol.clone()),
            (1, 0, alice),
            (1, 1, bob_carol)
        ]
    );
    assert_eq!(paging.state, PagingState::Exhausted);
    assert_eq!(paging.next_at, None);
    assert_eq!(paging.wave, 4);
}

#[test]
fn an_acknowledgement_stops_the_walk_until_its_timeout_repages_the_same_stage() {
    let config = config(TWO_STAGES);
    let (mut paging, _) = start(&config.roster(), "front", "inc-1", 0, t(0));
    assert_eq!(
        acknowledge(
            &config.roster(),
            &mut paging,
            "alice",
            Some(Span::from_secs(1800)),
            t(3)
        ),
        AckEffect::Stopped
    );
    assert_eq!(paging.next_at, Some(t(33)));
    assert_eq!(
        advance(&config.roster(), &mut paging, "inc-1", 0, t(20)),
        None
    );
    let (effect, pages) = advance(&config.roster(), &mut paging, "inc-1", 0, t(33)).unwrap();
    assert_eq!(effect, Advance::Repaged);
    assert_eq!((paging.stage, paging.wave), (0, 2));
    assert!(pages.iter().all(|p| p.contact == "alice" && p.wave == 2));
}

#[test]
fn a_stage_where_everyone_must_acknowledge_waits_for_the_last_one() {
    let config = config(TWO_STAGES);
    let (mut paging, _) = start(&config.roster(), "front", "inc-1", 0, t(0));
    advance(&config.roster(), &mut paging, "inc-1", 0, t(10)).unwrap();
    assert_eq!(
        acknowledge(&config.roster(), &mut paging, "bob", None, t(11)),
        AckEffect::Waiting { missing: 1 }
    );
    assert_eq!(paging.next_at, Some(t(25)));
    assert_eq!(
        acknowledge(&config.roster(), &mut paging, "carol", None, t(12)),
        AckEffect::Stopped
    );
    assert_eq!(paging.next_at, None);
    assert_eq!(
        advance(&config.roster(), &mut paging, "inc-1", 0, t(60)),
        None
    );
}

#[test]
fn schedules_and_other_policies_expand_to_contacts_once() {
    let config = config(
        r#"
  front:
    stages:
      - { targets: [{ contact: bob }, { policy: db }], timeout: 10m }
  db:
    stages:
      - { targets: [{ contact: carol }, { contact: bob }], timeout: 5m }
"#,
    );
    let (paging, _) = start(&config.roster(), "front", "inc-1", 0, t(0));
    assert_eq!(paging.engaged, vec!["bob".to_string(), "carol".to_string()]);
}

fn invalid(policies: &str) -> String {
    let text = format!(
        r#"
version: 1
plans:
  p: {{ impact: 2, escalation: front }}
contacts:
  alice: {{ email: alice@example.com }}
escalation_policies:
{policies}
"#
    );
    match Config::parse(&text) {
        Ok(_) => panic!("accepted:\n{policies}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_policies_are_refused_with_the_field_named() {
    let unknown =
        invalid("  front: { stages: [{ targets: [{ contact: mallory }], timeout: 5m }] }");
    assert!(
        unknown.contains("escalation_policies.front.stages[0].targets[0]")
            && unknown.contains("no contact is named `mallory`"),
        "{unknown}"
    );
    let cycle = invalid(
        r#"
  front: { stages: [{ targets: [{ policy: back }], timeout: 5m }] }
  back: { stages: [{ targets: [{ policy: front }], timeout: 5m }] }
"#,
    );
    assert!(cycle.contains("cycle: front -> back -> front"), "{cycle}");
    let no_stages = invalid("  front: { stages: [] }");
    assert!(no_stages.contains("at least one stage"), "{no_stages}");
    let no_wait = invalid("  front: { stages: [{ targets: [{ contact: alice }], timeout: 0s }] }");
    assert!(no_wait.contains("timeout above 0s"), "{no_wait}");
}

#[test]
fn bad_schedules_are_refused_through_the_config() {
    let text = r#"
version: 1
plans: { p: { impact: 2 } }
contacts:
  alice: { email: alice@example.com }
schedules:
  office:
    time_zone: Europe/Berlin
    rotations:
      - name: days
        members: [alice]
        every: daily
        start: 2026-01-05T09:00
        restrictions: [{ days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00" }]
  empty:
    time_zone: Europe/Berlin
    rotations: [{ name: nobody, members: [], every: weekly, start: 2026-01-05T09:00 }]
  ghosts:
    time_zone: Mars/Olympus
    rotations: [{ name: x, members: [alice], every: daily, start: 2026-01-05T09:00 }]
"#;
    let error = Config::parse(text).map(|_| ()).unwrap_err().to_string();
    assert!(error.contains("Mars/Olympus"), "{error}");
    let text = text.replace("Mars/Olympus", "Europe/Berlin");
    let error = Config::parse(&text).map(|_| ()).unwrap_err().to_string();
    assert!(
        error.contains("schedules.office") && error.contains("nobody is on call"),
        "{error}"
    );
    assert!(
        error.contains("schedules.empty.rotations[0].members"),
        "{error}"
    );
}

proptest::proptest! {
    /// However irregular the ticks, each wave pages the next (round, stage) in
    /// policy order, none twice, and the walk ends exhausted after every stage of
    /// every round was paged once.
    #[test]
    fn ticks_at_any_times_walk_the_policy_in_order(gaps in proptest::collection::vec(0_i64..40, 1..60)) {
        let config = config(TWO_STAGES);
        let (mut paging, _) = start(&config.roster(), "front", "inc-1", 0, t(0));
        let mut walked = vec![(paging.round, paging.stage)];
        let mut now = t(0);
        for gap in gaps {
            now += chrono::Duration::minutes(gap);
            if let Some((Advance::NextStage, pages)) = advance(&config.roster(), &mut paging, "inc-1", 0, now) {
                proptest::prop_assert!(pages.iter().all(|p| (p.round, p.stage) == (paging.round, paging.stage)));
                walked.push((paging.round, paging.stage));
            }
        }
        let order = [(0, 0), (0, 1), (1, 0), (1, 1)];
        proptest::prop_assert_eq!(&walked[..], &order[..walked.len()]);
        proptest::prop_assert_eq!(paging.state == PagingState::Exhausted, paging.next_at.is_none());
        proptest::prop_assert_eq!(paging.wave as usize, walked.len());
    }
}

#[test]
fn contacts_need_a_way_to_be_paged() {
    let text = r#"
version: 1
plans: { p: { impact: 2 } }
contacts:
  ghost: {}
  typo: { email: "not-an-address", phone: "015112345678" }
  nochat: { email: a@example.com, engagement: [{ via: chat }] }
"#;
    let error = Config::parse(text).map(|_| ()).unwrap_err().to_string();
    for expected in [
        "contacts.ghost",
        "contacts.typo.email",
        "contacts.typo.phone",
        "contacts.nochat.engagement[0].via",
    ] {
        assert!(error.contains(expected), "{expected} missing from {error}");
    }
}

#[test]
fn failed_pages_back_off_then_give_up() {
    let config = config(TWO_STAGES);
    let (_, pages) = start(&config.roster(), "front", "inc-1", 0, t(0));
    let mut page = pages[0].clone();
    let mut delays = Vec::new();
    loop {
        page.attempts += 1;
        match page_retry_at(&page, t(0)) {
            Some(at) => delays.push((at - t(0)).num_minutes()),
            None => break,
        }
    }
    assert_eq!(delays, vec![1, 2, 4, 8]);
    assert_eq!(page.attempts, MAX_PAGE_ATTEMPTS);
}
