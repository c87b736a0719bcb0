//! Section 4: decision throughput, the pure core with no I/O: parse, route and decide
//! every sample event, cold (an empty head) and warm (the head each decision wrote).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use alarm_to_incident::BUNDLED_CONFIG;
use chrono::{DateTime, Utc};
use quench_core::alarm::{parse_alarm_event, AlarmChange};
use quench_core::config::Config;
use quench_core::incident::{decide, DedupHead};
use quench_local_stack::sample_event;

use crate::{failed, say, tally, BenchError};

/// When the samples are received: after every change they describe, so that parsing
/// accepts them whatever the clock of the machine running the bench says.
fn received() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_176_000, 0).unwrap_or_default() // 2026-11-20T12:00:00Z
}

/// Every sample that is an alarm change (wrong-type.json is not).
const SAMPLES: [&str; 11] = [
    "agent-process-gone-alarm.json",
    "agent-process-gone-ok.json",
    "composite-alarm.json",
    "contributor-alarm.json",
    "contributor-ok.json",
    "cpu-high-alarm.json",
    "cpu-high-ok.json",
    "instance-check-failed-alarm.json",
    "instance-check-failed-ok.json",
    "metric-math-alarm.json",
    "sns-wrapped-alarm.json",
];

/// One sample as the decision loop sees it.
struct Sample {
    name: &'static str,
    raw: Vec<u8>,
    /// Per change: the head its dedup key has when it arrives after the samples before it
    /// (an OK finds its alarm's incident), or, for the first change of a key, the head its
    /// own decision leaves (a redelivery).
    warm: Vec<DedupHead>,
}

fn decide_all(config: &Config, raw: &[u8], heads: Option<&[DedupHead]>) -> usize {
    let Ok(changes) = parse_alarm_event(raw, received()) else {
        return 0;
    };
    let mut decided = 0;
    for (i, change) in changes.iter().enumerate() {
        let Ok(routed) = config.route(change) else {
            continue;
        };
        let key = routed.dedup_key(change);
        let head = heads.and_then(|h| h.get(i));
        black_box(decide(head, change, &routed, &key));
        decided += 1;
    }
    decided
}

fn prepare_samples(config: &Config) -> Result<Vec<Sample>, BenchError> {
    let mut heads: BTreeMap<String, DedupHead> = BTreeMap::new();
    let mut samples = Vec::new();
    for name in SAMPLES {
        let raw = sample_event(name)?.into_bytes();
        let changes: Vec<AlarmChange> =
            parse_alarm_event(&raw, received()).map_err(|e| failed(format!("{name}: {e}")))?;
        let mut warm = Vec::new();
        for change in &changes {
            let routed = config
                .route(change)
                .map_err(|e| failed(format!("{name}: {e}")))?;
            let key = routed.dedup_key(change);
            let before = heads.get(&key).cloned();
            let outcome = decide(before.as_ref(), change, &routed, &key);
            let after = outcome.commit.map(|c| c.head);
            if let Some(after) = &after {
                heads.insert(key.clone(), after.clone());
            }
            let head = before.or(after).unwrap_or_else(|| DedupHead::empty(&key));
            warm.push(head);
        }
        samples.push(Sample { name, raw, warm });
    }
    Ok(samples)
}

fn decision_mix(config: &Config, samples: &[Sample], warm: bool) -> String {
    let mut mix: BTreeMap<String, usize> = BTreeMap::new();
    for sample in samples {
        let Ok(changes) = parse_alarm_event(&sample.raw, received()) else {
            continue;
        };
        for (i, change) in changes.iter().enumerate() {
            let Ok(routed) = config.route(change) else {
                continue;
            };
            let key = routed.dedup_key(change);
            let head = if warm { sample.warm.get(i) } else { None };
            let decision = decide(head, change, &routed, &key).decision;
            let label = match decision.ignored_because {
                Some(reason) => format!(
                    "ignored:{}",
                    serde_json::to_string(&reason)
                        .unwrap_or_default()
                        .trim_matches('"')
                ),
                None => decision.decision.as_str().to_string(),
            };
            *mix.entry(label).or_default() += 1;
        }
    }
    tally(&mix)
}

#[derive(Clone, Copy)]
enum Loop {
    ParseOnly,
    NoHead,
    PrevHead,
}

pub(crate) fn bench_throughput(iterations: usize) -> Result<(), BenchError> {
    let config =
        Config::parse(BUNDLED_CONFIG).map_err(|e| failed(format!("bundled config: {e}")))?;
    let samples = prepare_samples(&config)?;
    say(format!(
        "\n4. Core decision throughput (no I/O, bundled config): {iterations} events per loop, \
         round-robin over {} samples",
        samples.len()
    ));
    let names: Vec<&str> = samples.iter().map(|s| s.name).collect();
    say(format!("   samples: {}", names.join(", ")));
    say(format!(
        "   decisions, no head:   {}",
        decision_mix(&config, &samples, false)
    ));
    say(format!(
        "   decisions, prev head: {}",
        decision_mix(&config, &samples, true)
    ));

    let parses = 1000;
    let started = Instant::now();
    for _ in 0..parses {
        black_box(Config::parse(black_box(BUNDLED_CONFIG)).is_ok());
    }
    say(format!(
        "   Config::parse(BUNDLED_CONFIG), once per cold start: {:.1} us",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(parses)
    ));
    let step = |mode: Loop, s: &Sample| match mode {
        Loop::ParseOnly => parse_alarm_event(black_box(&s.raw), received()).map_or(0, |c| c.len()),
        Loop::NoHead => decide_all(&config, black_box(&s.raw), None),
        Loop::PrevHead => decide_all(&config, black_box(&s.raw), Some(&s.warm)),
    };
    let loops = [
        ("parse only", Loop::ParseOnly),
        ("parse+route+decide, None head", Loop::NoHead),
        ("parse+route+decide, prev head", Loop::PrevHead),
    ];
    for (label, mode) in loops {
        // Warm caches and the allocator first.
        for sample in samples.iter().cycle().take(1000) {
            black_box(step(mode, sample));
        }
        let started = Instant::now();
        let mut changes = 0usize;
        for sample in samples.iter().cycle().take(iterations) {
            changes += black_box(step(mode, black_box(sample)));
        }
        let elapsed = started.elapsed();
        let per_second = iterations as f64 / elapsed.as_secs_f64();
        say(format!(
            "   {label:<31} {per_second:>12.0} events/s  ({:.2} us/event, {changes} changes in {:.2} s)",
            elapsed.as_secs_f64() * 1e6 / iterations as f64,
            elapsed.as_secs_f64()
        ));
    }
    Ok(())
}
