//! Chat rendering: golden bodies for every channel kind and event kind, and hostile
//! input that must never turn into mentions, links or oversized messages.
//!
//! `QUENCH_UPDATE_GOLDEN=1 cargo test -p quench-core --test chat_render` rewrites the
//! files under `tests/golden/chat/`; review the diff before committing it.

use std::path::PathBuf;

use quench_core::chat::render::render;
use quench_core::chat::{ChannelKind, Notice};
use quench_core::incident::{IncidentRecord, TimelineEvent, TimelineKind};
use quench_core::text::TRUNCATION_MARKER;
use serde_json::{json, Value};

const STEP_OUTPUT: &str = "run-command AWS-RunShellScript on i-0abc123: Success\n\
$ systemctl restart nginx && systemctl is-active nginx\n\
active\n\
$ curl -s -o /dev/null -w '%{http_code}' http://localhost/healthz\n\
200 # *all* good_now [ok]";

fn incident(resolved: bool) -> IncidentRecord {
    let mut record = json!({
        "id": "inc-20261120-0001",
        "dedup_key": "dims:InstanceId=i-0abc123",
        "plan": "ec2-instance-health",
        "impact": 2,
        "title": "Instance status check failed on web-1",
        "status": "OPEN",
        "created_at": "2026-11-20T10:00:00Z",
        "series": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-status"],
        "trigger": {
            "alarm_name": "web-1-status",
            "alarm_arn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-status",
            "account": "123456789012",
            "region": "eu-west-1",
            "namespace": "AWS/EC2",
            "metric": "StatusCheckFailed_Instance",
            "dimensions": { "InstanceId": "i-0abc123" },
            "threshold": 1.0,
            "reason": "Threshold Crossed: 1 datapoint [1.0] was >= the threshold (1.0)."
        },
        "version": 3
    });
    if resolved {
        record["status"] = json!("RESOLVED");
        record["resolved_at"] = json!("2026-11-20T10:12:30Z");
    }
    serde_json::from_value(record).expect("incident")
}

fn event(kind: TimelineKind) -> TimelineEvent {
    let (at, key, summary) = match kind {
        TimelineKind::Opened => (
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:00.000Z#opened#00c0ffee00c0ffee",
            "web-1-status is ALARM: Threshold Crossed: 1 datapoint [1.0] was >= the threshold (1.0).",
        ),
        TimelineKind::Step => (
            "2026-11-20T10:03:10Z",
            "inc-20261120-0001#00#0001#restart-nginx",
            STEP_OUTPUT,
        ),
        TimelineKind::Escalated => (
            "2026-11-20T10:20:00Z",
            "2026-11-20T10:20:00.000Z#escalated#v7",
            "escalated by runbook reboot-and-verify: web-1-status is still ALARM after 2 reboots",
        ),
        TimelineKind::Resolved => (
            "2026-11-20T10:12:30Z",
            "2026-11-20T10:12:30.000Z#resolved#v9",
            "every alarm stayed OK through the stable period",
        ),
        TimelineKind::Paging => (
            "2026-11-20T10:30:00Z",
            "2026-11-20T10:30:00.000Z#paging#w2",
            "nobody acknowledged in time: paging stage 2 of round 1: carol, dave",
        ),
        TimelineKind::Paged => (
            "2026-11-20T10:20:05Z",
            "2026-11-20T10:20:00.000Z#paged#00#0001#alice#chat",
            "paged Alice Example by chat (stage 1, round 1)",
        ),
        other => panic!("no fixture for {other:?}"),
    };
    let mention =
        (kind == TimelineKind::Paged).then(|| json!({"channel": "ops-slack", "user": "U0ALICE"}));
    serde_json::from_value(json!({
        "mention": mention,
        "incident_id": "inc-20261120-0001",
        "event_key": key,
        "at": at,
        "kind": kind,
        "alarm_name": "web-1-status",
        "series": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1-status",
        "state": if kind == TimelineKind::Resolved { "OK" } else { "ALARM" },
        "summary": summary,
    }))
    .expect("event")
}

fn notice(kind: TimelineKind) -> Notice {
    let incident = incident(kind == TimelineKind::Resolved);
    Notice::new(
        &incident,
        &event(kind),
        Some("reboot-and-verify"),
        "quench-incidents",
    )
}

const EVENTS: [TimelineKind; 6] = [
    TimelineKind::Opened,
    TimelineKind::Step,
    TimelineKind::Escalated,
    TimelineKind::Resolved,
    TimelineKind::Paging,
    TimelineKind::Paged,
];

fn golden_path(channel: ChannelKind, event: TimelineKind) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/chat")
        .join(format!("{}-{}.json", channel.as_str(), event.as_str()))
}

/// The first differing line, with a little context, so a failure says where.
fn first_difference(expected: &str, actual: &str) -> String {
    let (expected, actual): (Vec<&str>, Vec<&str>) =
        (expected.lines().collect(), actual.lines().collect());
    let at = (0..expected.len().max(actual.len()))
        .find(|i| expected.get(*i) != actual.get(*i))
        .unwrap_or(0);
    let from = at.saturating_sub(2);
    let mut out = format!("first difference at line {}:\n", at + 1);
    for i in from..(at + 3) {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if e == a => out.push_str(&format!("   {:4} {e}\n", i + 1)),
            (e, a) => {
                if let Some(e) = e {
                    out.push_str(&format!("  -{:4} {e}\n", i + 1));
                }
                if let Some(a) = a {
                    out.push_str(&format!("  +{:4} {a}\n", i + 1));
                }
            }
        }
    }
    out
}

#[test]
fn every_channel_and_event_matches_its_golden_file() {
    let update = std::env::var("QUENCH_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for channel in ChannelKind::ALL {
        for kind in EVENTS {
            let rendered = render(channel, &notice(kind));
            let actual = serde_json::to_string_pretty(&rendered).expect("json") + "\n";
            let path = golden_path(channel, kind);
            if update {
                std::fs::create_dir_all(path.parent().expect("parent")).expect("golden dir");
                std::fs::write(&path, &actual).expect("write golden");
                continue;
            }
            // Compared as JSON values: whether serde_json keeps key order depends on
            // the features other crates in the build enable, and order is not meaning.
            let same = |expected: &str| {
                serde_json::from_str::<Value>(expected).is_ok_and(|golden| golden == rendered)
            };
            match std::fs::read_to_string(&path) {
                Ok(expected) if same(&expected) => {}
                Ok(expected) => failures.push(format!(
                    "{} differs from the rendering (- golden, + rendered); \
                     QUENCH_UPDATE_GOLDEN=1 rewrites it\n{}",
                    path.display(),
                    first_difference(&expected, &actual)
                )),
                Err(error) => failures.push(format!(
                    "{} is missing ({error}); QUENCH_UPDATE_GOLDEN=1 writes it",
                    path.display()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn resolved_messages_say_how_long_the_incident_lasted() {
    let notice = notice(TimelineKind::Resolved);
    for channel in ChannelKind::ALL {
        if channel == ChannelKind::Webhook {
            continue;
        }
        let text = render(channel, &notice).to_string();
        assert!(text.contains("12m 30s"), "{channel:?}: {text}");
    }
}

/// Every string in a JSON value, keyed by its path.
fn strings(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path.to_string(), s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                strings(item, &format!("{path}.{key}"), out);
            }
        }
        _ => {}
    }
}

fn hostile(kind: TimelineKind) -> Notice {
    let mut notice = notice(kind);
    let chunk = "<!channel> <@U123> <http://evil|x> [a](http://b) **b** @here \0\u{1b}[31m ```\n";
    notice.title = format!("{}{}", chunk.trim_end(), "x".repeat(500));
    notice.alarm_name = "<!here> [click](http://evil.example) @everyone".to_string();
    notice.runbook = Some("<@U999>".to_string());
    notice.event.summary = chunk.repeat(100 * 1024 / chunk.len() + 1);
    assert!(notice.event.summary.len() > 100 * 1024);
    notice
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The channel's own limits on what it accepts.
fn assert_within_limits(channel: ChannelKind, body: &Value, all: &[(String, String)]) {
    match channel {
        ChannelKind::Slack | ChannelKind::SlackWebhook => {
            for (path, text) in all {
                let limit = if path.contains(".fields[") {
                    2000
                } else if path.starts_with(".blocks[0]") {
                    150
                } else {
                    3000
                };
                assert!(chars(text) <= limit, "{path}: {} > {limit}", chars(text));
            }
        }
        ChannelKind::Teams => {
            for (path, text) in all {
                assert!(chars(text) <= 3000, "{path}: {}", chars(text));
            }
            assert!(body.to_string().len() < 28 * 1024);
        }
        ChannelKind::Chime => {
            let content = body["Content"].as_str().expect("Content");
            assert!(content.starts_with("/md "));
            assert!(chars(content) <= 4096, "{}", chars(content));
        }
        ChannelKind::Chatbot => {
            let content = &body["content"];
            let title = content["title"].as_str().expect("title");
            let description = content["description"].as_str().expect("description");
            assert!(chars(title) <= 250, "{}", chars(title));
            assert!(chars(description) <= 8000, "{}", chars(description));
        }
        ChannelKind::Webhook => {
            let summary = body["event"]["summary"].as_str().expect("summary");
            assert!(summary.len() <= 16 * 1024, "{}", summary.len());
        }
    }
}

#[test]
fn hostile_text_never_becomes_markup_and_stays_bounded() {
    for channel in ChannelKind::ALL {
        for kind in [
            TimelineKind::Opened,
            TimelineKind::Step,
            TimelineKind::Escalated,
        ] {
            let notice = hostile(kind);
            let body = render(channel, &notice);
            let mut all = Vec::new();
            strings(&body, "", &mut all);
            let context = format!("{channel:?} {kind:?}");
            assert!(
                all.iter().any(|(_, s)| s.contains(TRUNCATION_MARKER)),
                "{context}: no truncation marker"
            );
            assert_within_limits(channel, &body, &all);
            for (path, text) in &all {
                assert!(
                    !text.contains('\0') && !text.contains('\u{1b}'),
                    "{context} {path}: control characters"
                );
            }
            if channel == ChannelKind::Webhook {
                // Raw by contract: the receiver escapes for wherever it shows the text.
                assert_eq!(body["incident"]["alarm"]["name"], json!(notice.alarm_name));
                continue;
            }
            for (path, text) in &all {
                for bad in [
                    "<!channel>",
                    "<!here>",
                    "<@U",
                    "](http",
                    "@here",
                    "@everyone",
                ] {
                    assert!(
                        !text.contains(bad),
                        "{context} {path}: {bad} in {text:.200}"
                    );
                }
            }
        }
    }
}

#[test]
fn slack_bot_and_webhook_bodies_differ_only_in_bot_fields() {
    let notice = notice(TimelineKind::Opened);
    let mut bot = render(ChannelKind::Slack, &notice);
    let hook = render(ChannelKind::SlackWebhook, &notice);
    assert_eq!(bot["link_names"], json!(false));
    assert!(hook.get("link_names").is_none());
    assert!(bot.get("channel").is_none() && bot.get("thread_ts").is_none());
    bot.as_object_mut().expect("object").remove("link_names");
    assert_eq!(bot, hook);
}

#[test]
fn a_chat_page_mentions_a_slack_member_id_and_nothing_else() {
    let mut notice = notice(TimelineKind::Paged);
    let body = render(ChannelKind::Slack, &notice);
    assert!(
        body["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("<@U0ALICE> ")),
        "{body}"
    );
    for hostile in ["!channel", "U0ALICE> <!here", "u0alice", ""] {
        notice.event.mention = Some(hostile.to_string());
        let body = render(ChannelKind::Slack, &notice).to_string();
        assert!(
            !body.contains("<@") && !body.contains("<!"),
            "{hostile}: {body}"
        );
    }
}
