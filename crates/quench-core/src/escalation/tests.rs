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

#[test]
fn a_contact_engages_each_channel_once() {
    let text = r#"
version: 1
plans: { p: { impact: 2 } }
contacts:
  twice: { phone: "+4915112345678", engagement: [{ via: sms }, { via: sms, after: 10m }] }
"#;
    let error = Config::parse(text).map(|_| ()).unwrap_err().to_string();
    assert!(
        error.contains("contacts.twice.engagement[1].via")
            && error.contains("`sms` is already engaged by engagement[0]"),
        "{error}"
    );
}

/// A config whose policy `front` has one stage with these targets, `people` contacts
/// `c0`.. each paged by email and SMS, a schedule `rota` of all of them in `rotations`
/// rotations, and a policy `team` that pages `rota` and `c0`.
fn wide_config(people: usize, rotations: usize, targets: &str) -> Result<Config, String> {
    let contacts: String = (0..people)
        .map(|i| format!("  c{i}: {{ email: c{i}@example.com, phone: \"+49151000{i:05}\" }}\n"))
        .collect();
    let members: Vec<String> = (0..people).map(|i| format!("c{i}")).collect();
    // Each rotation starts a day after the one before, so they have different people on.
    let first = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date");
    let rotations: String = (0..rotations)
        .map(|r| {
            let start = first + chrono::Days::new(r as u64);
            format!(
                "      - {{ name: r{r}, members: [{}], every: daily, start: {start}T09:00 }}\n",
                members.join(", ")
            )
        })
        .collect();
    let text = format!(
        r#"
version: 1
plans: {{ p: {{ impact: 2, escalation: front }} }}
contacts:
{contacts}
schedules:
  rota:
    time_zone: UTC
    rotations:
{rotations}
escalation_policies:
  front: {{ stages: [{{ targets: [{targets}], timeout: 5m }}] }}
  team: {{ stages: [{{ targets: [{{ schedule: rota }}, {{ contact: c0 }}], timeout: 5m }}] }}
"#
    );
    Config::parse(&text).map_err(|e| e.to_string())
}

#[test]
fn a_stage_that_could_page_more_than_one_commit_holds_is_refused() {
    let everyone = |n: usize| -> String {
        (0..n)
            .map(|i| format!("{{ contact: c{i} }}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // 48 people by email and SMS: 96 pages, which fit beside the head, the incident
    // and the timeline event.
    let config = wide_config(48, 1, &everyone(48)).expect("96 pages fit");
    let (_, pages) = start(&config.roster(), "front", "inc-1", 0, t(0));
    assert_eq!(pages.len(), 96);
    let error = wide_config(49, 1, &everyone(49)).unwrap_err();
    assert!(
        error.contains("escalation_policies.front.stages[0].targets")
            && error.contains("up to 98 pages"),
        "{error}"
    );
    // A schedule pages one person per rotation, however many take turns.
    let config = wide_config(60, 2, "{ schedule: rota }").expect("4 pages at most");
    assert_eq!(
        start(&config.roster(), "front", "inc-1", 0, t(0)).1.len(),
        4
    );
    // A policy target brings its first stage: 2 rotations of 49 people, and c0 again.
    let nested = wide_config(49, 49, &format!("{}, {{ policy: team }}", everyone(1)));
    let error = nested.unwrap_err();
    assert!(error.contains("up to 98 pages"), "{error}");
}

proptest::proptest! {
    /// The bound validation applies is an upper bound: whoever is on call, a wave never
    /// writes more pages than `most_pages` says.
    #[test]
    fn no_wave_pages_more_than_its_bound(
        channels in proptest::collection::vec((proptest::bool::ANY, proptest::bool::ANY), 1..8),
        rotations in proptest::collection::vec((proptest::collection::vec(0_usize..8, 1..5), 0_u64..9), 1..4),
        direct in proptest::collection::vec(0_usize..8, 0..4),
        via_policy in proptest::bool::ANY,
        hour in 0_i64..(24 * 30),
    ) {
        let n = channels.len();
        let contacts: String = channels.iter().enumerate().map(|(i, (email, sms))| {
            let mut ways = Vec::new();
            if *email || !*sms { ways.push(format!("email: c{i}@example.com")); }
            if *sms { ways.push(format!("phone: \"+49151000{i:05}\"")); }
            format!("  c{i}: {{ {} }}\n", ways.join(", "))
        }).collect();
        let first = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date");
        let rotations: String = rotations.iter().enumerate().map(|(r, (members, offset))| {
            let members: Vec<String> = members.iter().map(|m| format!("c{}", m % n)).collect();
            let start = first + chrono::Days::new(*offset);
            format!("      - {{ name: r{r}, members: [{}], every: 12h, start: {start}T09:00 }}\n", members.join(", "))
        }).collect();
        let mut targets: Vec<String> = direct.iter().map(|c| format!("{{ contact: c{} }}", c % n)).collect();
        targets.push(if via_policy { "{ policy: team }".into() } else { "{ schedule: rota }".into() });
        let text = format!(r#"
version: 1
plans: {{ p: {{ impact: 2, escalation: front }} }}
contacts:
{contacts}
schedules:
  rota:
    time_zone: Europe/Berlin
    rotations:
{rotations}
escalation_policies:
  front: {{ stages: [{{ targets: [{}], timeout: 5m }}] }}
  team: {{ stages: [{{ targets: [{{ schedule: rota }}, {{ contact: c0 }}], timeout: 5m }}] }}
"#, targets.join(", "));
        let config = Config::parse(&text).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
        let stage = &config.escalation_policies["front"].stages[0];
        let (_, pages) = start(&config.roster(), "front", "inc-1", 0, t(hour * 60));
        proptest::prop_assert!(pages.len() <= most_pages(&config.roster(), stage));
    }
}
