//! Property tests against a reference reading of the IANA database, across zones with
//! odd offsets (Lord_Howe, Santiago, St_Johns, Kolkata).

use super::*;

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
