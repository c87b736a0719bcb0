//! `parse_alarm_event` sees raw Lambda payloads: it must return `Ok` or `Err` for any
//! bytes, never panic. When it accepts a payload, everything downstream reads the
//! changes through their accessors, routing and the dedup key, so those run too.
#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use quench_core::alarm::{parse_alarm_event, parse_alarm_value, AlarmChange, MAX_EVENT_BYTES};
use quench_core::config::Config;

/// The repository's own config, so fuzzed alarm names, metrics, dimensions and tags
/// go through real routes (globs) and every dedupe mode.
fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Config::parse(include_str!("../../infra/quench.yaml")).expect("infra/quench.yaml is valid")
    })
}

/// When every fuzzed payload is received: a fixed instant, so a run is repeatable.
fn received() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_176_000, 0).unwrap_or_default()
}

fn exercise(change: &AlarmChange) {
    let _ = change.primary_metric();
    let dimensions = change.dimensions();
    let series_key = change.series_key();
    assert!(series_key.starts_with(change.alarm_arn.as_str()));
    if change.contributor.is_none() {
        for metric in &change.metrics {
            for key in metric.dimensions.keys() {
                assert!(dimensions.contains_key(key));
            }
        }
    }
    let _ = change.state.as_str();
    let _ = change.previous_state.map(|s| s.to_string());
    let _ = format!("{change:?}");
    let _ = serde_json::to_string(change);
    if let Ok(routed) = config().route(change) {
        let _ = routed.dedup_key(change);
    }
}

fuzz_target!(|data: &[u8]| {
    let result = parse_alarm_event(data, received());
    match &result {
        Ok(changes) => changes.iter().for_each(exercise),
        Err(error) => {
            let _ = error.to_string();
        }
    }
    // For valid UTF-8 JSON, the bytes entry point and the decoded-value entry point
    // must agree.
    if data.len() <= MAX_EVENT_BYTES {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
                assert_eq!(parse_alarm_value(&value, received()), result);
            }
        }
    }
});
