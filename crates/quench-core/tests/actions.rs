//! The pure rules around the action port: statuses, idempotency tokens, and untrusted
//! output made safe to keep.

use quench_core::ports::{automation_status, client_token, command_status};
use quench_core::runbook::StepStatus;
use quench_core::text::{sanitize_output, TRUNCATION_MARKER};

#[test]
fn sanitize_strips_controls_but_keeps_newlines_and_tabs() {
    let raw = "ok\tline\n\u{1b}[31mred\u{1b}[0m\r\0end";
    assert_eq!(sanitize_output(raw, 1000), "ok\tline\n[31mred[0mend");
}

#[test]
fn sanitize_bounds_and_marks_on_a_char_boundary() {
    let raw = "é".repeat(100);
    let out = sanitize_output(&raw, 50);
    assert!(out.len() <= 50, "{} bytes", out.len());
    assert!(out.ends_with(TRUNCATION_MARKER));
    assert!(out.starts_with("éé"));
    assert_eq!(sanitize_output("short", 50), "short");
}

#[test]
fn statuses_map() {
    assert_eq!(command_status("InProgress"), None);
    assert_eq!(command_status("Success"), Some(StepStatus::Succeeded));
    assert_eq!(command_status("TimedOut"), Some(StepStatus::TimedOut));
    assert_eq!(command_status("Failed"), Some(StepStatus::Failed));
    assert_eq!(command_status("Undeliverable"), Some(StepStatus::Failed));
    assert_eq!(automation_status("Waiting"), None);
    assert_eq!(automation_status("Success"), Some(StepStatus::Succeeded));
    assert_eq!(automation_status("Cancelled"), Some(StepStatus::Failed));
}

#[test]
fn client_token_is_uuid_shaped_and_deterministic() {
    let a = client_token("inc-1", 0, 0, "restart");
    assert_eq!(a, client_token("inc-1", 0, 0, "restart"));
    assert_ne!(a, client_token("inc-1", 0, 1, "restart"));
    assert_ne!(a, client_token("inc-1", 1, 0, "restart"));
    let parts: Vec<usize> = a.split('-').map(str::len).collect();
    assert_eq!(parts, vec![8, 4, 4, 4, 12]);
}
