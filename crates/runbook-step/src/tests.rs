//! Unit tests of the crate's private parts: the sample requests, poll intervals and
//! the `next` the state machine reads.

use quench_core::config::Config;
use quench_core::runbook::Next;

use crate::poll::poll_wait;
use crate::{PendingHandle, Request, BUNDLED_CONFIG};

#[test]
fn sample_requests_parse() {
    let start: Request =
        serde_json::from_str(include_str!("../../../events/runbook-step/start.json"))
            .expect("start request");
    assert_eq!(start.runbook, "reboot-and-verify");
    assert_eq!(start.position, None);
    let poll: Request = serde_json::from_str(include_str!(
        "../../../events/runbook-step/poll-command.json"
    ))
    .expect("poll request");
    let pending = poll.pending.expect("pending");
    assert!(matches!(pending.handle, PendingHandle::RunCommand { .. }));
    let config = Config::parse(BUNDLED_CONFIG).expect("bundled config");
    assert!(config.runbooks.contains_key(&start.runbook));
    assert!(config.runbooks.contains_key(&poll.runbook));
}

#[test]
fn poll_waits_grow_and_are_capped() {
    let command = PendingHandle::RunCommand {
        command_id: "c".into(),
        targets: vec![],
        output_limit: 1,
    };
    let waits: Vec<u64> = (0..7).map(|n| poll_wait(&command, n)).collect();
    assert_eq!(waits, vec![3, 5, 10, 15, 30, 30, 30]);
    let automation = PendingHandle::Automation {
        execution_id: "e".into(),
    };
    assert_eq!(poll_wait(&automation, 100), 60);
}

#[test]
fn a_poll_next_serialises_with_its_kind() {
    let poll = Next::Poll {
        step: "snapshot".into(),
    };
    assert_eq!(
        serde_json::to_value(&poll).expect("json"),
        serde_json::json!({ "kind": "poll", "step": "snapshot" })
    );
    let from_core = Next::Verify;
    assert_eq!(
        serde_json::to_value(&from_core).expect("json"),
        serde_json::json!({ "kind": "verify" })
    );
}
