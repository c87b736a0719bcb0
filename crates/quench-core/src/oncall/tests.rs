//! The unit and property tests of schedules, reaching their private parts. Longer than
//! the other files (about 1,200 lines) because the zone cases, Lord_Howe to St_Johns,
//! are most of it.

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

#[test]
fn the_documented_example_parses_validates_and_round_trips() {
    let schedule = yaml(EXAMPLE);
    assert_eq!(schedule.time_zone(), z(Europe::Berlin));
    assert_eq!(schedule.rotations().len(), 2);
    assert_eq!(schedule.rotations()[0].every, ShiftLength::days(7));
    assert_eq!(schedule.overrides()[0].from, local("2026-12-24T00:00"));
    assert_eq!(validated(&schedule, &|_| true), Ok(()));
    let text = serde_yaml_ng::to_string(&schedule).expect("serializes");
    assert!(text.contains("every: weekly"), "{text}");
    assert!(text.contains("start: 2026-01-05T09:00"), "{text}");
    assert_eq!(yaml(&text), schedule);
    // Tuesday 2026-01-06 10:00 CET.
    expect(&schedule, &[("2026-01-06T09:00:00Z", &["alice", "dave"])]);
    // Christmas Eve, a Thursday, 10:00 CET: erin covers business hours.
    expect(&schedule, &[("2026-12-24T09:00:00Z", &["erin", "dave"])]);
}

#[test]
fn a_listing_shows_local_times_and_who_or_nobody() {
    let schedule = yaml(
        "time_zone: Europe/Berlin\nallow_gaps: true\nrotations:\n  - name: day\n    \
             members: [alice]\n    every: daily\n    start: 2026-01-05T00:00\n    \
             restrictions:\n      - { days: [mon], from: \"09:00\", to: \"17:00\" }\n",
    );
    assert_eq!(
        schedule.listing(utc("2026-01-05T07:00:00Z"), utc("2026-01-05T17:00:00Z")),
        [
            "  Mon 2026-01-05 08:00 CET – Mon 2026-01-05 09:00 CET  nobody",
            "  Mon 2026-01-05 09:00 CET – Mon 2026-01-05 17:00 CET  alice",
            "  Mon 2026-01-05 17:00 CET – Mon 2026-01-05 18:00 CET  nobody",
        ]
    );
}

#[test]
fn weekly_hand_off_happens_at_the_instant() {
    let schedule = Schedule::new(
        z(Europe::Berlin),
        vec![rotation(
            "primary",
            &["alice", "bob", "carol"],
            ShiftLength::days(7),
            "2026-01-05T09:00",
        )],
        Vec::new(),
        false,
    );
    expect(
        &schedule,
        &[
            ("2026-01-05T07:59:59Z", &[]),
            ("2026-01-05T08:00:00Z", &["alice"]),
            ("2026-01-12T07:59:59Z", &["alice"]),
            ("2026-01-12T08:00:00Z", &["bob"]),
            ("2026-01-19T07:59:59.999Z", &["bob"]),
            ("2026-01-19T08:00:00Z", &["carol"]),
            ("2026-01-26T08:00:00Z", &["alice"]),
            // Summer time: the hand-off stays at 09:00 local, 07:00 UTC.
            ("2026-06-01T06:59:59Z", &["carol"]),
            ("2026-06-01T07:00:00Z", &["alice"]),
        ],
    );
}

#[test]
fn before_start_nobody_is_on_call() {
    let schedule = Schedule::new(
        z(America::New_York),
        vec![
            rotation("days", &["a"], ShiftLength::days(1), "2026-03-01T00:00"),
            rotation(
                "halves",
                &["b"],
                ShiftLength::new(Span::from_secs(12 * 3600)),
                "2026-03-01T00:00",
            ),
        ],
        Vec::new(),
        false,
    );
    expect(
        &schedule,
        &[
            ("1970-01-01T00:00:00Z", &[]),
            ("2026-02-20T12:00:00Z", &[]),
            ("2026-03-01T04:59:59Z", &[]),
            ("2026-03-01T05:00:00Z", &["a", "b"]),
        ],
    );
    assert!(schedule
        .shifts(utc("2025-01-01T00:00:00Z"), utc("2025-02-01T00:00:00Z"))
        .iter()
        .all(|s| s.on_call.is_empty()));
}

#[test]
fn a_daily_shift_across_a_clock_change_lasts_23_or_25_hours() {
    let schedule = daily_a_then_b(Europe::Berlin, "2026-03-01T09:00");
    let spring = schedule.shifts(utc("2026-03-28T08:00:00Z"), utc("2026-03-30T07:00:00Z"));
    let lengths: Vec<i64> = spring
        .iter()
        .map(|s| (s.end - s.start).num_hours())
        .collect();
    assert_eq!(lengths, [23, 24], "{spring:?}");
    assert_eq!(spring[0].end, utc("2026-03-29T07:00:00Z"));
    let autumn = schedule.shifts(utc("2026-10-24T07:00:00Z"), utc("2026-10-26T08:00:00Z"));
    let lengths: Vec<i64> = autumn
        .iter()
        .map(|s| (s.end - s.start).num_hours())
        .collect();
    assert_eq!(lengths, [25, 24], "{autumn:?}");
}

#[test]
fn berlin_hand_off_in_the_spring_gap_moves_forward_by_the_gap() {
    // 2026-03-29 02:30 does not exist in Berlin (02:00 CET -> 03:00 CEST): the
    // hand-off is at 03:30 CEST, 01:30 UTC. Shift 28 (a) starts then.
    let schedule = daily_a_then_b(Europe::Berlin, "2026-03-01T02:30");
    expect(
        &schedule,
        &[
            ("2026-03-28T01:29:59Z", &["a"]),
            ("2026-03-28T01:30:00Z", &["b"]),
            ("2026-03-29T01:29:59Z", &["b"]),
            ("2026-03-29T01:30:00Z", &["a"]),
            ("2026-03-30T00:29:59Z", &["a"]),
            ("2026-03-30T00:30:00Z", &["b"]),
        ],
    );
}

#[test]
fn berlin_hand_off_in_the_repeated_hour_takes_the_first() {
    // 2026-10-25 02:30 happens twice in Berlin (00:30 UTC in CEST, 01:30 UTC in CET).
    let schedule = daily_a_then_b(Europe::Berlin, "2026-10-01T02:30");
    expect(
        &schedule,
        &[
            ("2026-10-25T00:29:59Z", &["b"]),
            ("2026-10-25T00:30:00Z", &["a"]),
            ("2026-10-25T01:30:00Z", &["a"]),
            ("2026-10-26T01:29:59Z", &["a"]),
            ("2026-10-26T01:30:00Z", &["b"]),
        ],
    );
}

#[test]
fn new_york_hand_offs_at_0230_in_spring_and_0130_in_autumn() {
    // 2026-03-08 02:30 does not exist (02:00 EST -> 03:00 EDT): 03:30 EDT, 07:30 UTC.
    let spring = daily_a_then_b(America::New_York, "2026-03-01T02:30");
    expect(
        &spring,
        &[
            ("2026-03-07T07:29:59Z", &["b"]),
            ("2026-03-07T07:30:00Z", &["a"]),
            ("2026-03-08T07:29:59Z", &["a"]),
            ("2026-03-08T07:30:00Z", &["b"]),
            ("2026-03-09T06:29:59Z", &["b"]),
            ("2026-03-09T06:30:00Z", &["a"]),
        ],
    );
    // 2026-11-01 01:30 happens twice (05:30 UTC in EDT, 06:30 UTC in EST).
    let autumn = daily_a_then_b(America::New_York, "2026-10-01T01:30");
    expect(
        &autumn,
        &[
            ("2026-10-31T05:29:59Z", &["b"]),
            ("2026-10-31T05:30:00Z", &["a"]),
            ("2026-11-01T05:29:59Z", &["a"]),
            ("2026-11-01T05:30:00Z", &["b"]),
            ("2026-11-01T06:30:00Z", &["b"]),
            ("2026-11-02T06:29:59Z", &["b"]),
            ("2026-11-02T06:30:00Z", &["a"]),
        ],
    );
}

#[test]
fn elapsed_lengths_ignore_the_wall_clock() {
    // 12h from 09:00 CET: 08:00 and 20:00 UTC, so 10:00 and 22:00 CEST after the change.
    let schedule = Schedule::new(
        z(Europe::Berlin),
        vec![rotation(
            "h",
            &["a", "b"],
            ShiftLength::new(Span::from_secs(12 * 3600)),
            "2026-03-28T09:00",
        )],
        Vec::new(),
        false,
    );
    expect(
        &schedule,
        &[
            ("2026-03-28T07:59:59Z", &[]),
            ("2026-03-28T08:00:00Z", &["a"]),
            ("2026-03-28T20:00:00Z", &["b"]),
            ("2026-03-29T07:59:59Z", &["b"]),
            ("2026-03-29T08:00:00Z", &["a"]),
        ],
    );
}

#[test]
fn restrictions_leave_the_rotation_empty_outside_their_windows() {
    let mut business = rotation(
        "bh",
        &["alice", "bob"],
        ShiftLength::days(7),
        "2026-01-05T09:00",
    );
    business.restrictions = vec![window(
        &[Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri],
        "09:00",
        "17:00",
    )];
    let schedule = Schedule::new(z(Europe::Berlin), vec![business], Vec::new(), true);
    expect(
        &schedule,
        &[
            ("2026-01-05T07:59:59Z", &[]),
            ("2026-01-05T08:00:00Z", &["alice"]),
            ("2026-01-05T15:59:59Z", &["alice"]),
            ("2026-01-05T16:00:00Z", &[]),
            ("2026-01-09T15:59:00Z", &["alice"]),
            ("2026-01-10T10:00:00Z", &[]),
            ("2026-01-12T08:00:00Z", &["bob"]),
            // Summer time: still 09:00-17:00 local.
            ("2026-07-06T06:59:59Z", &[]),
            ("2026-07-06T07:00:00Z", &["alice"]),
        ],
    );
}

#[test]
fn a_window_ending_before_it_starts_runs_past_midnight() {
    let mut nights = rotation("n", &["night"], ShiftLength::days(1), "2026-01-01T00:00");
    nights.restrictions = vec![
        window(&[Day::Fri], "22:00", "06:00"),
        window(&[Day::Sun], "23:00", "01:00"),
        window(&[Day::Wed], "12:00", "24:00"),
    ];
    let schedule = Schedule::new(z(Tz::UTC), vec![nights], Vec::new(), true);
    expect(
        &schedule,
        &[
            ("2026-01-09T21:59:59Z", &[]),
            ("2026-01-09T22:00:00Z", &["night"]),
            ("2026-01-10T05:59:59Z", &["night"]),
            ("2026-01-10T06:00:00Z", &[]),
            ("2026-01-10T22:30:00Z", &[]),
            ("2026-01-11T22:59:59Z", &[]),
            ("2026-01-11T23:30:00Z", &["night"]),
            ("2026-01-12T00:30:00Z", &["night"]),
            ("2026-01-12T01:00:00Z", &[]),
            ("2026-01-14T11:59:59Z", &[]),
            ("2026-01-14T23:59:59Z", &["night"]),
            ("2026-01-15T00:00:00Z", &[]),
        ],
    );
}

fn two_rotations(overrides: Vec<Override>) -> Schedule {
    let mut business = rotation(
        "bh",
        &["alice", "bob"],
        ShiftLength::days(7),
        "2026-01-05T09:00",
    );
    business.restrictions = vec![window(
        &[Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri],
        "09:00",
        "17:00",
    )];
    let sun = rotation(
        "fts",
        &["dave", "fay"],
        ShiftLength::days(1),
        "2026-01-01T00:00",
    );
    Schedule::new(z(Europe::Berlin), vec![business, sun], overrides, false)
}

#[test]
fn two_rotations_put_two_people_on_call_in_rotation_order() {
    let schedule = two_rotations(Vec::new());
    expect(
        &schedule,
        &[
            // Monday 2026-01-05 is day 4 of fts: dave.
            ("2026-01-05T09:00:00Z", &["alice", "dave"]),
            ("2026-01-05T20:00:00Z", &["dave"]),
            ("2026-01-06T09:00:00Z", &["alice", "fay"]),
        ],
    );
    // The same person in two rotations is listed once.
    let both = Schedule::new(
        z(Tz::UTC),
        vec![
            rotation("x", &["bob"], ShiftLength::days(1), "2026-01-01T00:00"),
            rotation(
                "y",
                &["bob", "carol"],
                ShiftLength::days(1),
                "2026-01-01T00:00",
            ),
        ],
        Vec::new(),
        false,
    );
    expect(
        &both,
        &[
            ("2026-01-01T12:00:00Z", &["bob"]),
            ("2026-01-02T12:00:00Z", &["bob", "carol"]),
        ],
    );
}

#[test]
fn an_override_for_one_rotation_covers_it_even_outside_its_windows() {
    let schedule = two_rotations(vec![cover(
        "erin",
        "2026-01-06T00:00",
        "2026-01-07T00:00",
        Some("bh"),
    )]);
    expect(
        &schedule,
        &[
            ("2026-01-05T22:59:59Z", &["dave"]),
            ("2026-01-05T23:00:00Z", &["erin", "fay"]),
            ("2026-01-06T09:00:00Z", &["erin", "fay"]),
            ("2026-01-06T20:00:00Z", &["erin", "fay"]),
            ("2026-01-06T22:59:59Z", &["erin", "fay"]),
            ("2026-01-06T23:00:00Z", &["dave"]),
        ],
    );
}

#[test]
fn an_override_for_everyone_replaces_everyone_and_later_overrides_win() {
    let schedule = two_rotations(vec![
        cover("frank", "2026-12-25T00:00", "2026-12-26T00:00", Some("fts")),
        cover("erin", "2026-12-24T00:00", "2026-12-27T00:00", None),
        cover("gus", "2026-12-24T12:00", "2026-12-24T13:00", Some("bh")),
    ]);
    expect(
        &schedule,
        &[
            ("2026-12-23T22:59:59Z", &["dave"]),
            ("2026-12-23T23:00:00Z", &["erin"]),
            // Thursday 12:30 CET: gus is later in the list than erin, on bh.
            ("2026-12-24T11:30:00Z", &["gus", "erin"]),
            ("2026-12-24T12:00:00Z", &["erin"]),
            // frank is earlier than erin, so erin wins on fts too.
            ("2026-12-25T09:00:00Z", &["erin"]),
            ("2026-12-26T22:59:59Z", &["erin"]),
            ("2026-12-26T23:00:00Z", &["dave"]),
        ],
    );
    // Before any rotation starts, an override for everyone is still coverage.
    let early = two_rotations(vec![cover(
        "erin",
        "2025-06-01T00:00",
        "2025-06-02T00:00",
        None,
    )]);
    expect(
        &early,
        &[
            ("2025-06-01T12:00:00Z", &["erin"]),
            ("2025-06-02T12:00:00Z", &[]),
        ],
    );
}

#[test]
fn shifts_merge_equal_neighbours_and_tile_the_interval() {
    let schedule = two_rotations(vec![cover(
        "erin",
        "2026-01-06T12:00",
        "2026-01-06T14:00",
        Some("bh"),
    )]);
    let from = utc("2026-01-05T00:00:00.5Z");
    let until = utc("2026-01-07T00:00:00Z");
    let shifts = schedule.shifts(from, until);
    let got: Vec<(String, String, String)> = shifts
        .iter()
        .map(|s| {
            (
                s.start.to_rfc3339(),
                s.end.to_rfc3339(),
                s.on_call.join("+"),
            )
        })
        .collect();
    let want = [
        (
            "2026-01-05T00:00:00.500+00:00",
            "2026-01-05T08:00:00+00:00",
            "dave",
        ),
        (
            "2026-01-05T08:00:00+00:00",
            "2026-01-05T16:00:00+00:00",
            "alice+dave",
        ),
        (
            "2026-01-05T16:00:00+00:00",
            "2026-01-05T23:00:00+00:00",
            "dave",
        ),
        (
            "2026-01-05T23:00:00+00:00",
            "2026-01-06T08:00:00+00:00",
            "fay",
        ),
        (
            "2026-01-06T08:00:00+00:00",
            "2026-01-06T11:00:00+00:00",
            "alice+fay",
        ),
        (
            "2026-01-06T11:00:00+00:00",
            "2026-01-06T13:00:00+00:00",
            "erin+fay",
        ),
        (
            "2026-01-06T13:00:00+00:00",
            "2026-01-06T16:00:00+00:00",
            "alice+fay",
        ),
        (
            "2026-01-06T16:00:00+00:00",
            "2026-01-06T23:00:00+00:00",
            "fay",
        ),
        (
            "2026-01-06T23:00:00+00:00",
            "2026-01-07T00:00:00+00:00",
            "dave",
        ),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    assert!(schedule.shifts(until, from).is_empty());
    assert!(schedule.shifts(from, from).is_empty());
}

#[test]
fn shifts_see_windows_cut_by_clock_changes() {
    // A window 02:15-02:45 every day: on 2026-10-25 Berlin reads 02:15-02:45 twice,
    // on 2026-03-29 never.
    let mut r = rotation("w", &["w"], ShiftLength::days(1), "2026-01-01T00:00");
    r.restrictions = vec![window(&Day::ALL, "02:15", "02:45")];
    let schedule = Schedule::new(z(Europe::Berlin), vec![r], Vec::new(), true);
    let on = |from: &str, until: &str| -> Vec<(String, String)> {
        schedule
            .shifts(utc(from), utc(until))
            .into_iter()
            .filter(|s| !s.on_call.is_empty())
            .map(|s| (s.start.to_rfc3339(), s.end.to_rfc3339()))
            .collect()
    };
    assert!(on("2026-03-28T22:00:00Z", "2026-03-29T06:00:00Z").is_empty());
    assert_eq!(
        on("2026-10-24T22:00:00Z", "2026-10-25T06:00:00Z"),
        [
            (
                "2026-10-25T00:15:00+00:00".to_string(),
                "2026-10-25T00:45:00+00:00".to_string()
            ),
            (
                "2026-10-25T01:15:00+00:00".to_string(),
                "2026-10-25T01:45:00+00:00".to_string()
            ),
        ]
    );
}

#[test]
fn validation_names_each_problem_by_its_path() {
    let mut first = rotation(
        "a",
        &["alice", "zed"],
        ShiftLength::new(Span::ZERO),
        "2026-01-01T00:00",
    );
    first.restrictions = vec![
        window(&[], "09:00", "17:00"),
        window(&[Day::Mon], "09:00", "09:00"),
        window(&[Day::Tue], "24:00", "09:00"),
    ];
    let schedule = Schedule::new(
        z(Europe::Berlin),
        vec![
            first,
            rotation("a", &[], ShiftLength::days(1), "2026-01-01T00:00"),
            rotation(" ", &["alice"], ShiftLength::days(1), "2026-01-01T00:00"),
        ],
        vec![
            cover("yan", "2026-01-02T00:00", "2026-01-01T00:00", Some("nope")),
            cover("alice", "2026-01-01T00:00", "2026-01-01T00:00", None),
        ],
        true,
    );
    let is_contact = |name: &str| name == "alice";
    let at = "schedules.primary";
    let want = [
        (
            format!("{at}.rotations[0].members[1]"),
            "no contact is named `zed`".to_string(),
        ),
        (
            format!("{at}.rotations[0].every"),
            "a shift cannot last 0s; use `daily`, `weekly` or a positive duration".to_string(),
        ),
        (
            format!("{at}.rotations[0].restrictions[0].days"),
            "name at least one day (mon, tue, wed, thu, fri, sat, sun)".to_string(),
        ),
        (
            format!("{at}.rotations[0].restrictions[1].to"),
            "`from` and `to` are both 09:00, so the window is empty; a `to` before `from` \
                 crosses midnight, and a whole day is from 00:00 to 24:00"
                .to_string(),
        ),
        (
            format!("{at}.rotations[0].restrictions[2].from"),
            "24:00 can only end a window; start it at 00:00".to_string(),
        ),
        (
            format!("{at}.rotations[1].name"),
            "`a` is also the name of rotations[0]; rotation names must be unique".to_string(),
        ),
        (
            format!("{at}.rotations[1].members"),
            "a rotation needs at least one member".to_string(),
        ),
        (format!("{at}.rotations[2].name"), "empty".to_string()),
        (
            format!("{at}.overrides[0].who"),
            "no contact is named `yan`".to_string(),
        ),
        (
            format!("{at}.overrides[0].to"),
            "2026-01-01T00:00 is not after `from` 2026-01-02T00:00".to_string(),
        ),
        (
            format!("{at}.overrides[0].rotation"),
            "no rotation is named `nope` in this schedule (it has: a, a,  )".to_string(),
        ),
        (
            format!("{at}.overrides[1].to"),
            "2026-01-01T00:00 is not after `from` 2026-01-01T00:00".to_string(),
        ),
    ];
    assert_eq!(problems(&schedule, &is_contact), want);
    match validated(&schedule, &is_contact) {
        Err(ConfigError::Invalid(errors)) => assert_eq!(errors.len(), want.len()),
        other => panic!("expected several errors, got {other:?}"),
    }
    let empty = Schedule::new(z(Tz::UTC), Vec::new(), Vec::new(), false);
    assert_eq!(
        validated(&empty, &|_| true),
        Err(field(
            "schedules.primary.rotations",
            "at least one rotation is needed"
        ))
    );
}

#[test]
fn a_gap_in_the_week_is_reported_as_its_first_uncovered_window() {
    let mut days = rotation("days", &["a"], ShiftLength::days(7), "2026-01-05T09:00");
    days.restrictions = vec![window(
        &[Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri],
        "09:00",
        "17:00",
    )];
    let mut nights = rotation("nights", &["b"], ShiftLength::days(7), "2026-01-05T17:00");
    nights.restrictions = vec![
        window(&[Day::Mon, Day::Tue, Day::Wed, Day::Thu], "17:00", "09:00"),
        window(&[Day::Fri], "17:00", "24:00"),
    ];
    let gappy = Schedule::new(
        z(Europe::Berlin),
        vec![days.clone(), nights],
        Vec::new(),
        false,
    );
    assert_eq!(
        validated(&gappy, &|_| true),
        Err(field(
            "schedules.primary.rotations",
            "nobody is on call Sat 00:00-Mon 09:00; add a rotation or restriction covering \
                 it, or set `allow_gaps: true`"
        ))
    );
    let only_days = Schedule::new(z(Europe::Berlin), vec![days.clone()], Vec::new(), false);
    assert_eq!(
        problems(&only_days, &|_| true),
        [(
            "schedules.primary.rotations".to_string(),
            "nobody is on call Mon 17:00-Tue 09:00 (and 4 more windows each week); add a \
                 rotation or restriction covering it, or set `allow_gaps: true`"
                .to_string()
        )]
    );
    let mut lunch = days.clone();
    lunch.restrictions = vec![window(&Day::ALL, "13:00", "12:00")];
    let lunch = Schedule::new(z(Tz::UTC), vec![lunch], Vec::new(), false);
    assert_eq!(
        problems(&lunch, &|_| true)[0].1,
        "nobody is on call Mon 12:00-13:00 (and 6 more windows each week); add a rotation \
             or restriction covering it, or set `allow_gaps: true`"
    );
    let allowed = Schedule::new(z(Europe::Berlin), vec![days.clone()], Vec::new(), true);
    assert_eq!(validated(&allowed, &|_| true), Ok(()));
    let mut whole_day = days;
    whole_day.restrictions = vec![window(&Day::ALL, "00:00", "24:00")];
    let whole = Schedule::new(z(Tz::UTC), vec![whole_day], Vec::new(), false);
    assert_eq!(validated(&whole, &|_| true), Ok(()));
}

#[test]
fn bad_strings_are_serde_errors_that_say_what_was_expected() {
    let base = |time_zone: &str, every: &str, start: &str, from: &str| {
        format!(
                "time_zone: {time_zone}\nrotations:\n  - name: r\n    members: [a]\n    \
                 every: {every}\n    start: {start}\n    restrictions:\n      - days: [mon]\n        \
                 from: {from}\n        to: \"17:00\"\n"
            )
    };
    let ok = base("Europe/Berlin", "3d", "2026-01-05T09:00:30", "\"09:00\"");
    assert_eq!(yaml(&ok).rotations()[0].every.whole_days(), Some(3));
    assert_eq!(
        yaml(&ok).rotations()[0].start.to_string(),
        "2026-01-05T09:00:30"
    );
    let cases = [
        (
            base("Europe/Berlln", "daily", "2026-01-05T09:00", "\"09:00\""),
            "unknown time zone `Europe/Berlln`: use an IANA name such as `Europe/Berlin`",
        ),
        (
            base("europe/berlin", "daily", "2026-01-05T09:00", "\"09:00\""),
            "did you mean `Europe/Berlin`?",
        ),
        (
            base(
                "Europe/Berlin",
                "fortnightly",
                "2026-01-05T09:00",
                "\"09:00\"",
            ),
            "`fortnightly` is not a shift length: use `daily`, `weekly` or a duration",
        ),
        (
            base("Europe/Berlin", "-1d", "2026-01-05T09:00", "\"09:00\""),
            "`-1d` is not a shift length",
        ),
        (
            base("Europe/Berlin", "daily", "2026-01-05 09:00", "\"09:00\""),
            "`2026-01-05 09:00` is not a local date-time `YYYY-MM-DDTHH:MM`",
        ),
        (
            base("Europe/Berlin", "daily", "2026-01-05T09:00Z", "\"09:00\""),
            "no zone or offset",
        ),
        (
            base("Europe/Berlin", "daily", "2026-02-30T09:00", "\"09:00\""),
            "`2026-02-30T09:00` is not a local date-time: no such date",
        ),
        (
            base("Europe/Berlin", "daily", "2026-02-03T25:00", "\"09:00\""),
            "no such time of day",
        ),
        (
            base("Europe/Berlin", "daily", "2026-01-05T09:00", "\"9am\""),
            "`9am` is not a time of day `HH:MM` (00:00 to 24:00)",
        ),
        (
            base("Europe/Berlin", "daily", "2026-01-05T09:00", "\"24:01\""),
            "`24:01` is not a time of day",
        ),
        (
            base("Europe/Berlin", "daily", "2026-01-05T09:00", "\"09:0\""),
            "`09:0` is not a time of day",
        ),
        (
            base("Europe/Berlin", "daily", "2026-01-05T09:00", "900"),
            "`900` is not a time of day `HH:MM`",
        ),
        (
            ok.replace("[mon]", "[monday]"),
            "unknown variant `monday`, expected one of `mon`",
        ),
        (
            ok.replace("    every:", "    evry: daily\n    every:"),
            "unknown field `evry`",
        ),
        (format!("{ok}extra: 1\n"), "unknown field `extra`"),
    ];
    for (text, want) in cases {
        let error = yaml_error(&text);
        assert!(
            error.contains(want),
            "{error:?} should contain {want:?}\n{text}"
        );
    }
}

#[test]
fn the_json_schema_describes_the_strings() {
    let schema = serde_json::to_string(&schemars::schema_for!(Schedule)).expect("renders");
    for pattern in [
        LOCAL_DATE_TIME_PATTERN,
        TIME_OF_DAY_PATTERN,
        SHIFT_LENGTH_PATTERN,
    ] {
        let pattern = serde_json::to_string(pattern).expect("a string");
        assert!(schema.contains(&pattern), "{pattern} missing from {schema}");
    }
    for needle in [
        "IANA time zone name",
        r#""enum":["mon","tue","wed","thu","fri","sat","sun"]"#,
    ] {
        assert!(schema.contains(needle), "{needle} missing from {schema}");
    }
    assert!(!schema.contains("compiled"), "{schema}");
}

#[test]
fn far_instants_and_huge_lengths_do_not_panic() {
    let schedule = Schedule::new(
        z(chrono_tz::Pacific::Apia),
        vec![
            rotation(
                "a",
                &["a"],
                ShiftLength::days(u64::MAX / DAY_SECS),
                "9999-12-31T23:59",
            ),
            rotation(
                "b",
                &["b"],
                ShiftLength::new(Span::from_secs(u64::MAX)),
                "0000-01-01T00:00",
            ),
            rotation(
                "c",
                &["c"],
                ShiftLength::new(Span::from_secs(1)),
                "2026-01-01T00:00",
            ),
            rotation("d", &[], ShiftLength::new(Span::ZERO), "2026-01-01T00:00"),
        ],
        vec![cover(
            "o",
            "0000-01-01T00:00",
            "9999-12-31T23:59:59",
            Some("a"),
        )],
        true,
    );
    for at in [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        utc("2026-06-01T00:00:00Z"),
    ] {
        let _ = schedule.on_call(at);
    }
    let _ = schedule.shifts(
        DateTime::<Utc>::MAX_UTC - chrono::Duration::days(2),
        DateTime::<Utc>::MAX_UTC,
    );
    let _ = schedule.shifts(
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MIN_UTC + chrono::Duration::days(2),
    );
}

// -----------------------------------------------------------------------------------
// Property tests.

const ZONES: [Tz; 7] = [
    Europe::Berlin,
    America::New_York,
    Australia::Lord_Howe,
    America::Santiago,
    America::St_Johns,
    Asia::Kolkata,
    Tz::UTC,
];
const FROM_2025: i64 = 1_735_689_600;
const TWO_YEARS: i64 = 2 * 365 * 86_400;

/// An instant in 2025-2026, or (`near`) within two days of one of the zone's offset
/// changes in those years.
fn instant_in(zone: Tz, near: bool, pick: usize, spread: i64, nanos: u32) -> DateTime<Utc> {
    let mut changes = Vec::new();
    offset_changes(z(zone), FROM_2025, FROM_2025 + TWO_YEARS, &mut changes);
    let secs = match changes.get(pick % changes.len().max(1)) {
        Some(change) if near => change + spread.rem_euclid(4 * 86_400) - 2 * 86_400,
        _ => FROM_2025 + spread.rem_euclid(TWO_YEARS),
    };
    DateTime::from_timestamp(secs, nanos).expect("in range")
}

/// The reading's instant: chrono-tz's earliest, or in a gap the reading moved forward
/// by the gap (the offsets a day either side).
fn reference_instant(zone: Tz, reading: NaiveDateTime) -> i64 {
    if let Some(t) = zone.from_local_datetime(&reading).earliest() {
        return t.timestamp();
    }
    let guess = reading.and_utc().timestamp();
    let gap = offset_at(z(zone), guess + 86_400).expect("offset")
        - offset_at(z(zone), guess - 86_400).expect("offset");
    let moved = reading + chrono::Duration::seconds(i64::from(gap));
    zone.from_local_datetime(&moved)
        .single()
        .expect("the reading after the gap exists")
        .timestamp()
}

fn reference_covered(restrictions: &[Restriction], reading: NaiveDateTime) -> bool {
    if restrictions.is_empty() {
        return true;
    }
    let day = reading.weekday().num_days_from_monday() as usize;
    let minute = (reading.hour() * 60 + reading.minute()) as u16;
    restrictions.iter().any(|r| {
        let (from, to) = (r.from.minutes(), r.to.minutes());
        r.days.iter().any(|d| {
            let (today, tomorrow) = (d.index() == day, (d.index() + 1) % 7 == day);
            if from < to {
                today && minute >= from && minute < to
            } else {
                (today && minute >= from) || (tomorrow && minute < to)
            }
        })
    })
}

/// Who a single rotation has at `t`, walking shifts one by one from the start.
fn reference_person(zone: Tz, rotation: &Rotation, t: DateTime<Utc>) -> Option<String> {
    let local = t.with_timezone(&zone).naive_local();
    if !reference_covered(&rotation.restrictions, local) {
        return None;
    }
    let start = rotation.start.naive();
    let handoff = |k: i64| match rotation.every.whole_days() {
        Some(days) => reference_instant(
            zone,
            start + chrono::Duration::days(k * i64::try_from(days).expect("small")),
        ),
        None => {
            reference_instant(zone, start)
                + k * i64::try_from(rotation.every.span().as_secs()).expect("small")
        }
    };
    let mut shift = None;
    let mut k = 0;
    while handoff(k) <= t.timestamp() {
        shift = Some(k);
        k += 1;
    }
    let shift = usize::try_from(shift?).expect("non-negative");
    rotation
        .members
        .get(shift % rotation.members.len())
        .cloned()
}

fn arb_length() -> impl Strategy<Value = ShiftLength> {
    prop_oneof![
        3 => (1u64..=14).prop_map(ShiftLength::days),
        1 => (1u64..=71, prop::sample::select(vec![0u64, 30, 45]))
            .prop_map(|(h, m)| ShiftLength::new(Span::from_secs(h * 3600 + m * 60))),
    ]
}

/// A time of day, often in or next to the hours clocks change at.
fn arb_minute() -> impl Strategy<Value = u16> {
    prop_oneof![
        (0u16..1440),
        prop::sample::select(vec![0u16, 30, 60, 90, 120, 150, 180, 210, 1410]),
    ]
}

fn arb_start(days: i64) -> impl Strategy<Value = LocalDateTime> {
    (0..days, arb_minute()).prop_map(|(day, minute)| {
        let date =
            NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date") + chrono::Duration::days(day);
        let time = NaiveTime::from_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)
            .expect("a time");
        LocalDateTime::new(date.and_time(time))
    })
}

fn arb_restriction() -> impl Strategy<Value = Restriction> {
    (
        prop::sample::subsequence(Day::ALL.to_vec(), 1..=7),
        arb_minute(),
        arb_minute(),
    )
        .prop_map(|(days, from, to)| Restriction {
            days,
            from: TimeOfDay(from),
            to: TimeOfDay(if to == from { (to + 60) % 1440 } else { to }),
        })
}

fn arb_rotation(index: usize, restricted: bool) -> impl Strategy<Value = Rotation> {
    let restrictions = if restricted {
        prop::collection::vec(arb_restriction(), 0..3).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (1usize..=4, arb_length(), arb_start(400), restrictions).prop_map(
        move |(members, every, start, restrictions)| Rotation {
            name: format!("r{index}"),
            members: (0..members).map(|m| format!("r{index}m{m}")).collect(),
            every,
            start,
            restrictions,
        },
    )
}

fn arb_rotations() -> impl Strategy<Value = Vec<Rotation>> {
    prop_oneof![
        arb_rotation(0, true).prop_map(|r| vec![r]),
        (arb_rotation(0, true), arb_rotation(1, true)).prop_map(|(a, b)| vec![a, b]),
        (
            arb_rotation(0, true),
            arb_rotation(1, true),
            arb_rotation(2, false)
        )
            .prop_map(|(a, b, c)| vec![a, b, c]),
    ]
}

/// Overrides named `o0`, `o1`, ... over 2025-2026, aimed at a rotation (by index, taken
/// modulo the number of rotations) or at everyone.
fn arb_overrides() -> impl Strategy<Value = Vec<(LocalDateTime, i64, Option<usize>)>> {
    prop::collection::vec(
        (
            arb_start(730),
            1i64..(10 * 86_400),
            prop::option::of(0usize..3),
        ),
        0..6,
    )
}

fn overrides_for(
    rotations: &[Rotation],
    raw: &[(LocalDateTime, i64, Option<usize>)],
) -> Vec<Override> {
    raw.iter()
        .enumerate()
        .map(|(index, (from, length, target))| Override {
            who: format!("o{index}"),
            from: *from,
            to: LocalDateTime::new(from.naive() + chrono::Duration::seconds(*length)),
            rotation: target.map(|t| rotations[t % rotations.len()].name.clone()),
        })
        .collect()
}

proptest! {
    /// (a) on_call at any instant agrees with the shift containing it.
    #[test]
    fn on_call_agrees_with_shifts(
        zone in prop::sample::select(ZONES.to_vec()),
        rotations in arb_rotations(),
        raw_overrides in arb_overrides(),
        (near, pick, spread, nanos) in (any::<bool>(), any::<usize>(), any::<i64>(), 0u32..1_000_000_000),
        before in 0i64..(3 * 86_400),
        after in 1i64..(3 * 86_400),
    ) {
        let overrides = overrides_for(&rotations, &raw_overrides);
        let schedule = Schedule::new(z(zone), rotations, overrides, true);
        let t = instant_in(zone, near, pick, spread, nanos);
        let (from, until) = (t - chrono::Duration::seconds(before), t + chrono::Duration::seconds(after));
        let shifts = schedule.shifts(from, until);
        prop_assert_eq!(shifts.first().map(|s| s.start), Some(from));
        prop_assert_eq!(shifts.last().map(|s| s.end), Some(until));
        for pair in shifts.windows(2) {
            prop_assert_eq!(pair[0].end, pair[1].start);
            prop_assert_ne!(&pair[0].on_call, &pair[1].on_call);
        }
        for shift in &shifts {
            prop_assert!(shift.start < shift.end);
            let last = (shift.end - chrono::Duration::seconds(1)).max(shift.start);
            let middle = shift.start + (shift.end - shift.start) / 2;
            for at in [shift.start, middle, last] {
                prop_assert_eq!(&schedule.on_call(at), &shift.on_call, "at {}", at);
            }
            if shift.start <= t && t < shift.end {
                prop_assert_eq!(&schedule.on_call(t), &shift.on_call);
            }
        }
    }

    /// (b) A day-based rotation without restrictions has exactly one person on call
    /// from its start on, and the person changes exactly at the local hand-off times.
    #[test]
    fn day_rotations_change_only_at_local_hand_offs(
        zone in prop::sample::select(ZONES.to_vec()),
        days in 1u64..=14,
        members in 2usize..=4,
        start in arb_start(200),
        (near, pick, spread) in (any::<bool>(), any::<usize>(), any::<i64>()),
    ) {
        let rotation = Rotation {
            name: "r".into(),
            members: (0..members).map(|m| format!("m{m}")).collect(),
            every: ShiftLength::days(days),
            start,
            restrictions: Vec::new(),
        };
        let schedule = Schedule::new(z(zone), vec![rotation], Vec::new(), false);
        let first = reference_instant(zone, start.naive());
        let t = instant_in(zone, near, pick, spread, 0).max(DateTime::from_timestamp(first, 0).expect("in range"));
        prop_assert_eq!(schedule.on_call(t).len(), 1);
        let from = (t - chrono::Duration::days(3)).max(DateTime::from_timestamp(first, 0).expect("in range"));
        let until = t + chrono::Duration::days(3);
        let shifts = schedule.shifts(from, until);
        prop_assert!(shifts.iter().all(|s| s.on_call.len() == 1));
        let changes: Vec<i64> = shifts.iter().skip(1).map(|s| s.start.timestamp()).collect();
        let every = i64::try_from(days).expect("small");
        let mut expected = Vec::new();
        let mut date = start.naive().date();
        let time = start.naive().time();
        loop {
            let handoff = reference_instant(zone, date.and_time(time));
            if handoff >= until.timestamp() {
                break;
            }
            if handoff > from.timestamp() {
                expected.push(handoff);
            }
            date += chrono::Duration::days(every);
        }
        prop_assert_eq!(changes, expected);
    }

    /// (c) The arithmetic agrees with walking the shifts one by one from the start.
    #[test]
    fn arithmetic_agrees_with_walking_the_shifts(
        zone in prop::sample::select(ZONES.to_vec()),
        rotation in arb_rotation(0, true),
        (near, pick, spread, nanos) in (any::<bool>(), any::<usize>(), any::<i64>(), 0u32..1_000_000_000),
    ) {
        let t = instant_in(zone, near, pick, spread, nanos);
        let schedule = Schedule::new(z(zone), vec![rotation.clone()], Vec::new(), true);
        let want: Vec<String> = reference_person(zone, &rotation, t).into_iter().collect();
        prop_assert_eq!(schedule.on_call(t), want);
    }

    /// (d) Overrides win inside their window and never outside it.
    #[test]
    fn overrides_win_inside_their_window_only(
        zone in prop::sample::select(ZONES.to_vec()),
        rotations in arb_rotations(),
        raw_overrides in arb_overrides(),
        at_edge in prop::option::of((any::<usize>(), any::<bool>(), -1i64..=1)),
        (near, pick, spread) in (any::<bool>(), any::<usize>(), any::<i64>()),
    ) {
        let overrides = overrides_for(&rotations, &raw_overrides);
        let schedule = Schedule::new(z(zone), rotations.clone(), overrides.clone(), true);
        let edge = at_edge.and_then(|(which, end, nudge)| {
            let cover = overrides.get(which % overrides.len().max(1))?;
            let reading = if end { cover.to } else { cover.from };
            Some(reference_instant(zone, reading.naive()) + nudge)
        });
        let t = match edge {
            Some(secs) => DateTime::from_timestamp(secs, 0).expect("in range"),
            None => instant_in(zone, near, pick, spread, 0),
        };
        let mut want: Vec<String> = Vec::new();
        for rotation in &rotations {
            let winner = overrides.iter().rev().find(|o| {
                let aimed = o.rotation.as_ref().is_none_or(|r| r == &rotation.name);
                let from = reference_instant(zone, o.from.naive());
                let to = reference_instant(zone, o.to.naive());
                aimed && from <= t.timestamp() && t.timestamp() < to
            });
            let person = match winner {
                Some(o) => Some(o.who.clone()),
                None => reference_person(zone, rotation, t),
            };
            if let Some(person) = person {
                if !want.contains(&person) {
                    want.push(person);
                }
            }
        }
        prop_assert_eq!(schedule.on_call(t), want);
    }
}
