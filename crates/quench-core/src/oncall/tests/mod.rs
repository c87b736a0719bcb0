//! The unit and property tests of schedules, which reach their private parts: the
//! helpers they share here, lookups, checks and properties one module each.

use super::compiled::*;
use super::local_time::*;
use super::model::*;
use super::schedule::*;
use super::zone::*;
use crate::config::vocabulary::{field, ConfigError, Names, Problems, Validate};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::{America, Asia, Australia, Europe, Tz};

use crate::duration::Span;
use proptest::prelude::*;

/// The zone of that name in the bundled database the schedules use; chrono-tz, an
/// independent reading of the IANA database, is the tests' reference.
fn z(zone: Tz) -> Zone {
    Zone::get(zone.name()).expect("in the bundled database")
}

fn utc(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

fn yaml(text: &str) -> Schedule {
    serde_yaml_ng::from_str(text).expect("a valid schedule")
}

fn yaml_error(text: &str) -> String {
    serde_yaml_ng::from_str::<Schedule>(text)
        .expect_err("an invalid schedule")
        .to_string()
}

fn local(raw: &str) -> LocalDateTime {
    LocalDateTime::parse(raw).expect("a local date-time")
}

fn rotation(name: &str, members: &[&str], every: ShiftLength, start: &str) -> Rotation {
    Rotation {
        name: name.to_string(),
        members: members.iter().map(|m| m.to_string()).collect(),
        every,
        start: local(start),
        restrictions: Vec::new(),
    }
}

/// `a` then `b`, a day each, handing off at `start`'s wall-clock time in `zone`.
fn daily_a_then_b(zone: Tz, start: &str) -> Schedule {
    Schedule::new(
        z(zone),
        vec![rotation("d", &["a", "b"], ShiftLength::days(1), start)],
        Vec::new(),
        false,
    )
}

fn window(days: &[Day], from: &str, to: &str) -> Restriction {
    Restriction {
        days: days.to_vec(),
        from: TimeOfDay::parse(from).expect("a time of day"),
        to: TimeOfDay::parse(to).expect("a time of day"),
    }
}

fn cover(who: &str, from: &str, to: &str, rotation: Option<&str>) -> Override {
    Override {
        who: who.to_string(),
        from: local(from),
        to: local(to),
        rotation: rotation.map(str::to_string),
    }
}

/// Asserts who is on call at each RFC 3339 instant.
fn expect(schedule: &Schedule, cases: &[(&str, &[&str])]) {
    for (at, who) in cases {
        assert_eq!(schedule.on_call(utc(at)), *who, "on call at {at}");
    }
}

/// Validates `schedule` as `schedules.primary` of a file whose contacts are the people
/// it names that `is_contact` accepts.
fn validated(schedule: &Schedule, is_contact: &dyn Fn(&str) -> bool) -> Result<(), ConfigError> {
    let mut names = Names::default();
    let members = schedule.rotations().iter().flat_map(|r| &r.members);
    let covering = schedule.overrides().iter().map(|o| &o.who);
    for name in members.chain(covering) {
        if is_contact(name) {
            names.contacts.insert(name.as_str());
        }
    }
    let mut problems = Problems::default();
    schedule.validate("schedules.primary", &names, &mut problems);
    problems.into_result()
}

fn problems(schedule: &Schedule, is_contact: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
    let errors = match validated(schedule, is_contact) {
        Ok(()) => Vec::new(),
        Err(ConfigError::Invalid(errors)) => errors,
        Err(error) => vec![error],
    };
    errors
        .into_iter()
        .map(|e| match e {
            ConfigError::Field { path, problem } => (path, problem),
            other => (String::new(), other.to_string()),
        })
        .collect()
}

const EXAMPLE: &str = r#"
time_zone: Europe/Berlin
allow_gaps: false
rotations:
  - name: business-hours
    members: [alice, bob, carol]
    every: weekly
    start: 2026-01-05T09:00
    restrictions:
      - days: [mon, tue, wed, thu, fri]
        from: "09:00"
        to: "17:00"
  - name: follow-the-sun
    members: [dave]
    every: daily
    start: 2026-01-01T00:00
overrides:
  - who: erin
    from: 2026-12-24T00:00
    to: 2026-12-27T00:00
    rotation: business-hours
"#;

mod checks;
mod lookups;
mod properties;
