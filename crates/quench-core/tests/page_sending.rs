//! What the ticker does with a due page: claim or skip, cancel or send, and how a send's
//! result settles it.

use chrono::{DateTime, Utc};
use quench_core::config::Config;
use quench_core::escalation::*;
use quench_core::incident::{IncidentRecord, IncidentStatus, TimelineKind};

fn at(minutes: i64) -> DateTime<Utc> {
    let t0: DateTime<Utc> = "2026-11-20T10:00:00Z".parse().expect("time");
    t0 + chrono::Duration::minutes(minutes)
}

fn page(state: PageState) -> Page {
    Page {
        incident_id: "inc-1".into(),
        episode: 0,
        wave: 1,
        round: 0,
        stage: 0,
        contact: "carol".into(),
        via: Via::Email,
        due_at: at(0),
        state,
        attempts: 0,
        last_error: None,
        at: at(0),
    }
}

fn incident() -> IncidentRecord {
    serde_json::from_value(serde_json::json!({
        "id": "inc-1", "dedup_key": "k", "plan": "p", "impact": 2, "title": "t",
        "status": "OPEN", "created_at": at(0), "series": ["arn"],
        "trigger": { "alarm_name": "a", "alarm_arn": "arn", "account": "1",
                     "region": "eu-west-1", "reason": "r" },
        "paging": { "policy": "front", "round": 0, "stage": 0, "wave": 1,
                    "wave_started_at": at(0), "engaged": ["carol"], "state": "waiting" },
        "version": 1
    }))
    .expect("incident")
}

#[test]
fn a_page_is_sendable_when_due_or_abandoned_past_its_lease() {
    let lease = chrono::Duration::minutes(2);
    assert!(sendable(&page(PageState::Pending), at(0), lease));
    assert!(!sendable(&page(PageState::Sent), at(0), lease));
    let claimed = page(PageState::Sending);
    assert!(!sendable(&claimed, at(1), lease), "another ticker has it");
    assert!(sendable(&claimed, at(3), lease), "that ticker died");
}

#[test]
fn a_claimed_page_stays_due_until_it_is_settled() {
    let lease = chrono::Duration::minutes(2);
    assert_eq!(due_again(&page(PageState::Pending), lease), Some(at(0)));
    let mut claimed = page(PageState::Sending);
    claimed.at = at(5);
    assert_eq!(
        due_again(&claimed, lease),
        Some(at(7)),
        "when the claim's lease runs out"
    );
    for settled in [PageState::Sent, PageState::Cancelled, PageState::Failed] {
        assert_eq!(due_again(&page(settled), lease), None, "{settled:?}");
    }
}

#[test]
fn failures_back_off_then_give_up_with_an_event() {
    let incident = incident();
    let mut current = page(PageState::Pending);
    let mut outcomes = Vec::new();
    let mut now = at(0);
    for _ in 0..MAX_PAGE_ATTEMPTS {
        let settled = settle(&incident, current, Err("down".into()), now);
        outcomes.push((settled.outcome, settled.page.due_at - now));
        now = settled.page.due_at;
        current = settled.page;
        if settled.outcome == PageOutcome::Failed {
            let event = settled.timeline.expect("recorded");
            assert_eq!(event.kind, TimelineKind::PageFailed);
            assert_eq!(event.event_key, "page_failed#00#0001#carol#email");
            assert_eq!(
                event.summary,
                "could not page carol by email after 5 attempts: down"
            );
        }
    }
    let minutes = |n| chrono::Duration::minutes(n);
    assert_eq!(
        outcomes.iter().map(|o| o.0).collect::<Vec<_>>(),
        [
            [PageOutcome::Retrying; 4].as_slice(),
            &[PageOutcome::Failed]
        ]
        .concat()
    );
    assert_eq!(
        outcomes[..4].iter().map(|o| o.1).collect::<Vec<_>>(),
        vec![minutes(1), minutes(2), minutes(4), minutes(8)]
    );
    assert_eq!(current.state, PageState::Failed);
    let sent = settle(&incident, page(PageState::Sending), Ok(()), at(1));
    assert_eq!(
        (sent.outcome, sent.page.state, sent.page.attempts),
        (PageOutcome::Sent, PageState::Sent, 1)
    );
}

#[test]
fn a_page_of_an_acknowledged_or_missing_incident_is_cancelled() {
    let config = Config::parse("version: 1\nplans: { p: { impact: 2 } }").expect("config");
    let mut incident = incident();
    let claimed = page(PageState::Pending);
    let unknown = plan_page(&config.roster(), Some(&incident), &claimed, at(1));
    assert!(
        matches!(&unknown, PagePlan::Attempt { send: Err(why), .. } if why.contains("no longer in the config")),
        "{unknown:?}"
    );
    incident.status = IncidentStatus::Acknowledged;
    for incident in [Some(&incident), None] {
        match plan_page(&config.roster(), incident, &claimed, at(1)) {
            PagePlan::Cancel(page) => {
                assert_eq!((page.state, page.at), (PageState::Cancelled, at(1)));
            }
            other => panic!("{other:?}"),
        }
    }
}
