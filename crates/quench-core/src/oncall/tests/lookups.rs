//! Who is on call: hand-offs across clock changes, restrictions, overrides, listings.

use super::*;

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
