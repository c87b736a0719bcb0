//! Validation, string syntax, schema, and instants far from now that must not panic.

use super::*;

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
