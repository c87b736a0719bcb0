//! `Config::parse` reads a file a human wrote: it must return `Ok` or `Err` for any
//! text, never panic. An accepted config is then used the way the Lambda uses it:
//! fixed sample alarm changes are routed through it and given a dedup key.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use quench_core::alarm::{parse_alarm_event, AlarmChange};
use quench_core::config::Config;

/// One single-metric alarm with dimensions, one multi-series contributor and one
/// SNS-delivered alarm: between them they reach every dedupe mode and route condition.
fn samples() -> &'static [AlarmChange] {
    static SAMPLES: OnceLock<Vec<AlarmChange>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        // After every sample's state timestamp.
        let received = chrono::DateTime::from_timestamp(1_795_176_000, 0).unwrap_or_default();
        [
            &include_bytes!("../../events/alarm-to-incident/cpu-high-alarm.json")[..],
            &include_bytes!("../../events/alarm-to-incident/contributor-alarm.json")[..],
            &include_bytes!("../../events/alarm-to-incident/sns-wrapped-alarm.json")[..],
        ]
        .iter()
        .flat_map(|raw| parse_alarm_event(raw, received).expect("sample event parses"))
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text) {
        Ok(config) => {
            // `parse` validated already; validating again must agree.
            assert_eq!(config.validate(), Ok(()));
            for change in samples() {
                if let Ok(routed) = config.route(change) {
                    assert!(config.plans.contains_key(routed.plan_name));
                    let _ = routed.dedup_key(change);
                }
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
