//! On-call lookups: who a year-long schedule (two rotations, one restricted to business
//! hours, 100 overrides) has on call at a million random instants of that year, and what
//! a 30-day listing of its shifts costs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use quench_core::config::{Names, Problems, Validate};
use quench_core::oncall::Schedule;

use crate::{failed, say, BenchError};

const LOOKUPS: usize = 1_000_000;
const OVERRIDES: usize = 100;
const LISTINGS: u32 = 200;
/// 2026-01-01T00:00:00Z and the year's length.
const YEAR_START: i64 = 1_767_225_600;
const YEAR_SECS: i64 = 365 * 86_400;
const TARGET_PER_SECOND: f64 = 100_000.0;

/// xorshift64*: deterministic, so every run looks up the same instants.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn schedule(rng: &mut Rng) -> Result<Schedule, BenchError> {
    let people = [
        "alice", "bob", "carol", "dave", "erin", "frank", "gus", "hana",
    ];
    let mut overrides = Vec::new();
    for index in 0..OVERRIDES {
        let start = YEAR_START + i64::try_from(rng.below(365 * 24)).unwrap_or(0) * 3600;
        let hours = 4 + i64::try_from(rng.below(68)).unwrap_or(0);
        let local = |secs: i64| {
            DateTime::from_timestamp(secs, 0)
                .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
                .unwrap_or_default()
        };
        let who = people[usize::try_from(rng.below(people.len() as u64)).unwrap_or(0)];
        let mut cover = serde_json::json!({
            "who": who,
            "from": local(start),
            "to": local(start + hours * 3600),
        });
        if index % 3 != 0 {
            let rotation = if index % 3 == 1 {
                "business-hours"
            } else {
                "follow-the-sun"
            };
            cover["rotation"] = serde_json::json!(rotation);
        }
        overrides.push(cover);
    }
    let schedule: Schedule = serde_json::from_value(serde_json::json!({
        "time_zone": "Europe/Berlin",
        "rotations": [
            {
                "name": "business-hours",
                "members": ["alice", "bob", "carol", "dave", "erin"],
                "every": "weekly",
                "start": "2025-12-29T09:00",
                "restrictions": [
                    { "days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00" }
                ]
            },
            {
                "name": "follow-the-sun",
                "members": ["frank", "gus", "hana"],
                "every": "daily",
                "start": "2025-12-31T18:00"
            }
        ],
        "overrides": overrides,
    }))
    .map_err(|e| failed(format!("on-call schedule: {e}")))?;
    // Everyone the schedule names is a contact of the file it would be in.
    let mut names = Names::default();
    let members = schedule.rotations().iter().flat_map(|r| &r.members);
    let covering = schedule.overrides().iter().map(|o| &o.who);
    names
        .contacts
        .extend(members.chain(covering).map(String::as_str));
    let mut problems = Problems::default();
    schedule.validate("schedules.bench", &names, &mut problems);
    problems
        .into_result()
        .map_err(|e| failed(format!("on-call schedule: {e}")))?;
    Ok(schedule)
}

fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

pub fn run() -> Result<(), BenchError> {
    say(format!(
        "\n10. On-call lookups (pure core): a 2026 schedule in Europe/Berlin, a weekly rotation \
         restricted to weekday business hours and a daily one, {OVERRIDES} overrides; \
         {LOOKUPS} random instants of 2026"
    ));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let schedule = schedule(&mut rng)?;
    let instants: Vec<DateTime<Utc>> = (0..LOOKUPS)
        .filter_map(|_| {
            let secs = YEAR_START + i64::try_from(rng.below(YEAR_SECS as u64)).unwrap_or(0);
            DateTime::from_timestamp(secs, 0)
        })
        .collect();

    // The first lookup compiles the overrides; a fresh clone shows what that costs.
    let fresh = schedule.clone();
    let started = Instant::now();
    black_box(fresh.on_call(black_box(instants[0])));
    let first = started.elapsed();

    for at in instants.iter().take(10_000) {
        black_box(schedule.on_call(*at));
    }
    let started = Instant::now();
    let mut on_call = 0usize;
    for at in &instants {
        on_call += black_box(schedule.on_call(black_box(*at))).len();
    }
    let elapsed = started.elapsed();
    let per_second = instants.len() as f64 / elapsed.as_secs_f64();
    say(format!(
        "   first lookup (compiles overrides)  {}",
        us(first)
    ));
    say(format!(
        "   on_call                            {per_second:>12.0} lookups/s  ({:.2} us/lookup, \
         {:.2} people on call on average)  (target > {TARGET_PER_SECOND:.0}/s: {})",
        elapsed.as_secs_f64() * 1e6 / instants.len() as f64,
        on_call as f64 / instants.len() as f64,
        crate::verdict(per_second > TARGET_PER_SECOND)
    ));

    let from = instants
        .get(LOOKUPS / 2)
        .copied()
        .ok_or_else(|| failed("no instants"))?;
    let until = from + chrono::Duration::days(30);
    let mut shifts = 0;
    let mut bytes = 0;
    let started = Instant::now();
    for _ in 0..LISTINGS {
        // What `quench-config oncall` prints.
        let listed = schedule.listing(black_box(from), black_box(until));
        shifts = listed.len();
        bytes = black_box(listed.join("\n")).len();
    }
    say(format!(
        "   30-day shifts(), formatted         {} per listing  ({shifts} shifts, {bytes} bytes)",
        us(started.elapsed() / LISTINGS)
    ));
    Ok(())
}
