//! The compiled form of a schedule: shift arithmetic per rotation, overrides as sorted
//! intervals, and the week mask that checks coverage.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::duration::Span;
use crate::oncall::local_time::*;
use crate::oncall::model::*;
use crate::oncall::zone::*;

pub(super) const NO_OVERRIDE: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(super) struct Compiled {
    pub(super) rotations: Vec<Turns>,
    /// Sorted instants (seconds) where the set of overrides in force changes.
    pub(super) bounds: Vec<i64>,
    /// For each of the `bounds.len() + 1` intervals between bounds, one entry per
    /// rotation: the index of the override covering it, or `NO_OVERRIDE`.
    pub(super) winners: Vec<u32>,
}

#[derive(Debug, Clone)]
pub(super) struct Turns {
    pub(super) clock: Clock,
    pub(super) window: Option<Box<WeekMask>>,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Clock {
    /// Hand-offs at `time` every `every` local calendar days from `date`.
    Days {
        date: NaiveDate,
        time: NaiveTime,
        every: i64,
    },
    /// Hand-offs every `every` seconds from `start` (seconds since the epoch).
    Elapsed { start: i64, every: i64 },
    /// A zero length: nobody, ever.
    Never,
}

impl Compiled {
    pub(super) fn new(zone: Zone, rotations: &[Rotation], overrides: &[Override]) -> Self {
        let all_rotations = rotations;
        let rotations: Vec<Turns> = all_rotations
            .iter()
            .map(|rotation| Turns {
                clock: Clock::new(zone, rotation),
                window: (!rotation.restrictions.is_empty())
                    .then(|| Box::new(WeekMask::of(&rotation.restrictions))),
            })
            .collect();

        // Each override as (from, to, target) with target = rotation index, or the
        // number of rotations for "everyone"; unusable ones are left out.
        let everyone = rotations.len();
        let covers: Vec<(usize, i64, i64, usize)> = overrides
            .iter()
            .enumerate()
            .filter_map(|(index, cover)| {
                let target = match &cover.rotation {
                    None => everyone,
                    Some(name) => all_rotations.iter().position(|r| &r.name == name)?,
                };
                let from = resolve(zone, cover.from.naive());
                let to = resolve(zone, cover.to.naive());
                (from < to && u32::try_from(index).is_ok_and(|i| i != NO_OVERRIDE))
                    .then_some((index, from, to, target))
            })
            .collect();
        let mut bounds: Vec<i64> = covers.iter().flat_map(|c| [c.1, c.2]).collect();
        bounds.sort_unstable();
        bounds.dedup();

        // Sweep the bounds in order, keeping per target the overrides in force.
        let mut starting: Vec<&(usize, i64, i64, usize)> = covers.iter().collect();
        starting.sort_by_key(|c| c.1);
        let mut ending = starting.clone();
        ending.sort_by_key(|c| c.2);
        let (mut s, mut e) = (0, 0);
        let mut active: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); everyone + 1];
        let mut winners = vec![NO_OVERRIDE; (bounds.len() + 1) * everyone];
        for (segment, bound) in bounds.iter().enumerate() {
            while let Some(cover) = ending.get(e).filter(|c| c.2 == *bound) {
                if let Some(set) = active.get_mut(cover.3) {
                    set.remove(&cover.0);
                }
                e += 1;
            }
            while let Some(cover) = starting.get(s).filter(|c| c.1 == *bound) {
                if let Some(set) = active.get_mut(cover.3) {
                    set.insert(cover.0);
                }
                s += 1;
            }
            let all = active.get(everyone).and_then(|set| set.last().copied());
            for r in 0..everyone {
                let own = active.get(r).and_then(|set| set.last().copied());
                let winner = own.max(all).and_then(|w| u32::try_from(w).ok());
                if let (Some(winner), Some(slot)) =
                    (winner, winners.get_mut((segment + 1) * everyone + r))
                {
                    *slot = winner;
                }
            }
        }
        Compiled {
            rotations,
            bounds,
            winners,
        }
    }
}

impl Clock {
    fn new(zone: Zone, rotation: &Rotation) -> Self {
        let start = rotation.start.naive();
        match rotation.every.whole_days() {
            Some(days) => Clock::Days {
                date: start.date(),
                time: start.time(),
                every: i64::try_from(days).unwrap_or(i64::MAX),
            },
            None if rotation.every.span() == Span::ZERO => Clock::Never,
            None => Clock::Elapsed {
                start: resolve(zone, start),
                every: i64::try_from(rotation.every.span().as_secs()).unwrap_or(i64::MAX),
            },
        }
    }

    /// Hand-off `k` in seconds; `None` past the calendar's range.
    fn handoff(self, zone: Zone, k: i64) -> Option<i64> {
        match self {
            Clock::Days { date, time, every } => {
                let days = chrono::Duration::try_days(k.checked_mul(every)?)?;
                let date = date.checked_add_signed(days)?;
                Some(resolve(zone, date.and_time(time)))
            }
            Clock::Elapsed { start, every } => start.checked_add(k.checked_mul(every)?),
            Clock::Never => None,
        }
    }

    /// The shift in progress at `t` (seconds), whose local reading is `local`; `None`
    /// before hand-off 0.
    fn shift_at(self, zone: Zone, t: i64, local: NaiveDateTime) -> Option<i64> {
        match self {
            Clock::Days { date, every, .. } => {
                let days = (local.date() - date).num_days();
                let mut k = days.div_euclid(every);
                if k < -1 {
                    return None;
                }
                // The local date says shift k; near a hand-off the instant decides. A
                // hand-off two or more days after the local date cannot have passed, nor
                // one two or more days before it be still to come (offsets move by less).
                for _ in 0..3 {
                    let next = k.checked_add(1)?;
                    let next_date_gap = next.checked_mul(every)?.checked_sub(days)?;
                    if next_date_gap <= 2 && self.handoff(zone, next).is_some_and(|h| h <= t) {
                        k = next;
                    } else {
                        break;
                    }
                }
                for _ in 0..3 {
                    if k < 0 {
                        return None;
                    }
                    let since = days - k.checked_mul(every)?;
                    if since >= 2 || self.handoff(zone, k).is_some_and(|h| h <= t) {
                        return Some(k);
                    }
                    k -= 1;
                }
                (k >= 0).then_some(k)
            }
            Clock::Elapsed { start, every } => {
                let since = t.checked_sub(start)?;
                (since >= 0).then(|| since.div_euclid(every))
            }
            Clock::Never => None,
        }
    }

    /// Hand-off instants in `(lo, hi)` onto `out`.
    pub(super) fn handoffs_between(self, zone: Zone, lo: i64, hi: i64, out: &mut Vec<i64>) {
        let Some(local) = local_at(zone, lo) else {
            return;
        };
        let mut k = match self.shift_at(zone, lo, local) {
            Some(k) => k.saturating_add(1),
            None => 0,
        };
        while let Some(h) = self.handoff(zone, k) {
            if h >= hi {
                break;
            }
            out.push(h);
            k = match k.checked_add(1) {
                Some(next) => next,
                None => break,
            };
        }
    }
}

impl Turns {
    pub(super) fn person<'a>(
        &self,
        zone: Zone,
        rotation: &'a Rotation,
        t: i64,
        local: NaiveDateTime,
    ) -> Option<&'a str> {
        if let Some(window) = &self.window {
            if !window.covers(minute_of_week(local)) {
                return None;
            }
        }
        let k = self.clock.shift_at(zone, t, local)?;
        let count = i64::try_from(rotation.members.len())
            .ok()
            .filter(|n| *n > 0)?;
        let index = usize::try_from(k.rem_euclid(count)).ok()?;
        rotation.members.get(index).map(String::as_str)
    }
}

pub(super) fn minute_of_week(local: NaiveDateTime) -> usize {
    let day = local.weekday().num_days_from_monday() as usize;
    day * 1440 + local.hour() as usize * 60 + local.minute() as usize
}

/// Minutes of the week (Monday 00:00 = 0) a rotation covers.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct WeekMask([u64; WEEK_MINUTES.div_ceil(64)]);

impl Default for WeekMask {
    fn default() -> Self {
        WeekMask([0; WEEK_MINUTES.div_ceil(64)])
    }
}

impl fmt::Debug for WeekMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let covered = (0..WEEK_MINUTES).filter(|m| self.covers(*m)).count();
        write!(f, "WeekMask({covered} of {WEEK_MINUTES} minutes)")
    }
}

impl WeekMask {
    /// No restrictions: the whole week.
    pub(super) fn of(restrictions: &[Restriction]) -> Self {
        let mut mask = WeekMask::default();
        if restrictions.is_empty() {
            mask.set(0, WEEK_MINUTES);
            return mask;
        }
        for restriction in restrictions {
            let from = usize::from(restriction.from.minutes()).min(1440);
            let to = usize::from(restriction.to.minutes()).min(1440);
            for day in &restriction.days {
                let base = day.index() * 1440;
                if from < to {
                    mask.set(base + from, base + to);
                } else {
                    mask.set(base + from, base + 1440);
                    let next = ((day.index() + 1) % 7) * 1440;
                    mask.set(next, next + to);
                }
            }
        }
        mask
    }

    fn set(&mut self, from: usize, to: usize) {
        for minute in from..to.min(WEEK_MINUTES) {
            if let Some(word) = self.0.get_mut(minute / 64) {
                *word |= 1 << (minute % 64);
            }
        }
    }

    pub(super) fn add(&mut self, other: &WeekMask) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
    }

    fn covers(&self, minute: usize) -> bool {
        self.0
            .get(minute / 64)
            .is_some_and(|word| word & (1 << (minute % 64)) != 0)
    }
}

/// The message for the first uncovered window of the week, if any.
pub(super) fn gap_problem(covered: &WeekMask) -> Option<String> {
    let mut gaps: Vec<(usize, usize)> = Vec::new();
    let mut minute = 0;
    while minute < WEEK_MINUTES {
        if covered.covers(minute) {
            minute += 1;
            continue;
        }
        let start = minute;
        while minute < WEEK_MINUTES && !covered.covers(minute) {
            minute += 1;
        }
        gaps.push((start, minute));
    }
    let advice = "add a rotation or restriction covering it, or set `allow_gaps: true`";
    match gaps.as_slice() {
        [] => return None,
        [(0, WEEK_MINUTES)] => {
            return Some(format!(
                "nobody is on call at any time of the week; {advice}"
            ))
        }
        _ => {}
    }
    // A gap running through Sunday midnight into Monday is one window.
    if gaps.len() > 1 && gaps.first().is_some_and(|g| g.0 == 0) {
        if let Some(last) = gaps.last().copied().filter(|g| g.1 == WEEK_MINUTES) {
            let first = gaps.remove(0);
            if let Some(end) = gaps.last_mut() {
                *end = (last.0, WEEK_MINUTES + first.1);
            }
        }
    }
    let (start, end) = gaps.first().copied()?;
    let more = match gaps.len() - 1 {
        0 => String::new(),
        1 => " (and 1 more window each week)".to_string(),
        n => format!(" (and {n} more windows each week)"),
    };
    Some(format!(
        "nobody is on call {}{more}; {advice}",
        week_window(start, end)
    ))
}

pub(super) fn week_window(start: usize, end: usize) -> String {
    let clock = |m: usize| format!("{:02}:{:02}", (m % 1440) / 60, m % 60);
    let (start_day, end_day) = (start / 1440, end / 1440);
    if start_day == end_day {
        format!("{} {}-{}", Day::label(start_day), clock(start), clock(end))
    } else {
        format!(
            "{} {}-{} {}",
            Day::label(start_day),
            clock(start),
            Day::label(end_day),
            clock(end)
        )
    }
}

/// Instants in `(lo, hi)` where some rotation's restriction windows may open or close:
/// each window edge on each local date, every time the wall clock reads it, and every
/// change of offset (where the wall clock jumps over or back across edges).
pub(super) fn window_cuts(
    zone: Zone,
    rotations: &[Rotation],
    lo: i64,
    hi: i64,
    out: &mut Vec<i64>,
) {
    let mut edges: BTreeSet<u16> = BTreeSet::from([0]);
    for restriction in rotations.iter().flat_map(|r| &r.restrictions) {
        edges.insert(restriction.from.minutes() % 1440);
        edges.insert(restriction.to.minutes() % 1440);
    }
    let (Some(first), Some(last)) = (local_at(zone, lo), local_at(zone, hi)) else {
        return;
    };
    let mut date = first.date().pred_opt().unwrap_or(first.date());
    let last = last.date().succ_opt().unwrap_or(last.date());
    while date <= last {
        for edge in &edges {
            let Some(time) = NaiveTime::from_hms_opt(u32::from(edge / 60), u32::from(edge % 60), 0)
            else {
                continue;
            };
            out.extend(instants(zone, date.and_time(time)));
        }
        date = match date.succ_opt() {
            Some(next) => next,
            None => break,
        };
    }
    offset_changes(zone, lo, hi, out);
}

/// Every instant in `(lo, hi]` where the zone's offset changes, assuming no two changes
/// within six hours of each other.
pub(super) fn offset_changes(zone: Zone, lo: i64, hi: i64, out: &mut Vec<i64>) {
    const STEP: i64 = 6 * 3600;
    let Some(mut before) = offset_at(zone, lo) else {
        return;
    };
    let mut a = lo;
    while a < hi {
        let b = a.saturating_add(STEP).min(hi);
        let Some(after) = offset_at(zone, b) else {
            return;
        };
        if after != before {
            let (mut early, mut late) = (a, b);
            while late - early > 1 {
                let middle = early + (late - early) / 2;
                if offset_at(zone, middle) == Some(before) {
                    early = middle;
                } else {
                    late = middle;
                }
            }
            out.push(late);
        }
        a = b;
        before = after;
    }
}
