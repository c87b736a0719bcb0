//! Unit tests of the crate's private parts: the sample requests and the `next` the
//! state machine reads.

use quench_core::config::Config;
use quench_core::runbook::Next;

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
