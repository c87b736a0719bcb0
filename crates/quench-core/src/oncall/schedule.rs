//! The schedule as written in the config (`schedules.<name>`), its validation, and
//! who is on call at an instant (the rule is in the folder's doc).

use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::vocabulary::{Names, Problems, Validate};
use crate::duration::Span;
use crate::oncall::compiled::*;
use crate::oncall::local_time::*;
use crate::oncall::model::*;
use crate::oncall::zone::*;

/// An on-call schedule: `schedules.<name>` in the config.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// IANA time zone name (`Europe/Berlin`, `America/New_York`, `UTC`) that every
    /// date-time and time of day in this schedule is read in.
    #[serde(with = "zone_name")]
    #[schemars(with = "ZoneName")]
    time_zone: Zone,
    /// Allow times of the week when no rotation covers anyone. Off by default: a gap
    /// is a config error.
    #[serde(default, skip_serializing_if = "is_false")]
    allow_gaps: bool,
    /// Rotations, each with one person on call at a time; several rotations put several
    /// people on call at once.
    rotations: Vec<Rotation>,
    /// Who covers instead, from when to when. Later overrides win over earlier ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    overrides: Vec<Override>,
    /// Compiled on the first lookup; the fields above cannot change after construction.
    #[serde(skip)]
    compiled: OnceLock<Compiled>,
}

impl Schedule {
    pub fn new(
        time_zone: Zone,
        rotations: Vec<Rotation>,
        overrides: Vec<Override>,
        allow_gaps: bool,
    ) -> Self {
        Schedule {
            time_zone,
            allow_gaps,
            rotations,
            overrides,
            compiled: OnceLock::new(),
        }
    }

    pub fn time_zone(&self) -> Zone {
        self.time_zone
    }

    pub fn allow_gaps(&self) -> bool {
        self.allow_gaps
    }

    pub fn rotations(&self) -> &[Rotation] {
        &self.rotations
    }

    pub fn overrides(&self) -> &[Override] {
        &self.overrides
    }

    /// The contacts on call at `at`, in rotation order, each once.
    pub fn on_call(&self, at: DateTime<Utc>) -> Vec<String> {
        let mut names = Vec::with_capacity(self.rotations.len());
        self.on_call_refs(at, &mut names);
        names.into_iter().map(str::to_string).collect()
    }

    /// `at` in the schedule's zone as listings show it. Zones without an abbreviation
    /// show their offset, since `%Z` would print one anyway (`+03`).
    pub fn local_time(&self, at: DateTime<Utc>) -> String {
        let zone = self.time_zone();
        let abbreviation = zone.abbreviation(at.timestamp());
        let offset = offset_at(zone, at.timestamp())
            .and_then(FixedOffset::east_opt)
            .unwrap_or(Utc.fix());
        let at = at.with_timezone(&offset);
        if abbreviation.starts_with(['+', '-']) {
            at.format("%a %Y-%m-%d %H:%M %:z").to_string()
        } else {
            format!("{} {abbreviation}", at.format("%a %Y-%m-%d %H:%M"))
        }
    }

    /// One line per shift between `from` and `until`: `  start – end  who` in local time,
    /// `nobody` for a gap.
    pub fn listing(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<String> {
        self.shifts(from, until)
            .into_iter()
            .map(|shift| {
                let who = if shift.on_call.is_empty() {
                    "nobody".to_string()
                } else {
                    shift.on_call.join(", ")
                };
                format!(
                    "  {} – {}  {who}",
                    self.local_time(shift.start),
                    self.local_time(shift.end)
                )
            })
            .collect()
    }

    /// The shifts from `from` until `until`, tiling that interval: consecutive intervals
    /// with the same people on call are one shift, and an interval with nobody on call is
    /// a shift with an empty `on_call`. The first shift starts at `from` and the last ends
    /// at `until` (they are clipped to the interval). Empty if `until <= from`.
    pub fn shifts(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Shift> {
        if until <= from {
            return Vec::new();
        }
        let compiled = self.compiled();
        // Cuts are whole seconds strictly inside (from, until).
        let lo = from.timestamp();
        let hi = until.timestamp() + i64::from(until.timestamp_subsec_nanos() > 0);
        let mut cuts: Vec<i64> = Vec::new();
        for clock in compiled.rotations.iter().map(|r| &r.clock) {
            clock.handoffs_between(self.time_zone, lo, hi, &mut cuts);
        }
        let first = compiled.bounds.partition_point(|b| *b <= lo);
        let last = compiled.bounds.partition_point(|b| *b < hi);
        cuts.extend(compiled.bounds.get(first..last).unwrap_or_default());
        if compiled.rotations.iter().any(|r| r.window.is_some()) {
            window_cuts(self.time_zone, &self.rotations, lo, hi, &mut cuts);
        }
        cuts.retain(|c| *c > lo && *c < hi);
        cuts.sort_unstable();
        cuts.dedup();

        let mut shifts: Vec<Shift> = Vec::new();
        let mut names = Vec::new();
        let starts = std::iter::once(from).chain(cuts.iter().filter_map(|c| instant(*c)));
        let ends = cuts
            .iter()
            .filter_map(|c| instant(*c))
            .chain(std::iter::once(until));
        for (start, end) in starts.zip(ends) {
            names.clear();
            self.on_call_refs(start, &mut names);
            match shifts.last_mut() {
                Some(last)
                    if last
                        .on_call
                        .iter()
                        .map(String::as_str)
                        .eq(names.iter().copied()) =>
                {
                    last.end = end;
                }
                _ => shifts.push(Shift {
                    start,
                    end,
                    on_call: names.iter().map(|n| n.to_string()).collect(),
                }),
            }
        }
        shifts
    }

    fn compiled(&self) -> &Compiled {
        self.compiled
            .get_or_init(|| Compiled::new(self.time_zone, &self.rotations, &self.overrides))
    }

    fn on_call_refs<'a>(&'a self, at: DateTime<Utc>, names: &mut Vec<&'a str>) {
        let compiled = self.compiled();
        let t = at.timestamp();
        let local = local_of(self.time_zone, at);
        let rotations = compiled.rotations.len();
        let segment = if compiled.bounds.is_empty() {
            None
        } else {
            let index = compiled.bounds.partition_point(|b| *b <= t);
            compiled
                .winners
                .get(index * rotations..(index + 1) * rotations)
        };
        for (r, (rotation, turns)) in self.rotations.iter().zip(&compiled.rotations).enumerate() {
            let covered_by = segment
                .and_then(|s| s.get(r))
                .filter(|w| **w != NO_OVERRIDE)
                .and_then(|w| self.overrides.get(*w as usize));
            let name = match covered_by {
                Some(cover) => Some(cover.who.as_str()),
                None => turns.person(self.time_zone, rotation, t, local),
            };
            if let Some(name) = name {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
}

impl Validate for Schedule {
    fn validate(&self, at: &str, names: &Names<'_>, problems: &mut Problems) {
        if self.rotations.is_empty() {
            problems.add(format!("{at}.rotations"), "at least one rotation is needed");
        }
        for (index, rotation) in self.rotations.iter().enumerate() {
            let at = format!("{at}.rotations[{index}]");
            if rotation.name.trim().is_empty() {
                problems.add(format!("{at}.name"), "empty");
            } else if let Some(first) = self.rotations[..index]
                .iter()
                .position(|r| r.name == rotation.name)
            {
                problems.add(
                    format!("{at}.name"),
                    format!(
                        "`{}` is also the name of rotations[{first}]; rotation names must be unique",
                        rotation.name
                    ),
                );
            }
            if rotation.members.is_empty() {
                problems.add(
                    format!("{at}.members"),
                    "a rotation needs at least one member",
                );
            }
            for (m, member) in rotation.members.iter().enumerate() {
                if !names.contacts.contains(member.as_str()) {
                    problems.add(
                        format!("{at}.members[{m}]"),
                        format!("no contact is named `{member}`"),
                    );
                }
            }
            if rotation.every.span() == Span::ZERO {
                problems.add(
                    format!("{at}.every"),
                    "a shift cannot last 0s; use `daily`, `weekly` or a positive duration",
                );
            }
            for (r, restriction) in rotation.restrictions.iter().enumerate() {
                let at = format!("{at}.restrictions[{r}]");
                if restriction.days.is_empty() {
                    problems.add(
                        format!("{at}.days"),
                        "name at least one day (mon, tue, wed, thu, fri, sat, sun)",
                    );
                }
                if restriction.from == TimeOfDay::END_OF_DAY {
                    problems.add(
                        format!("{at}.from"),
                        "24:00 can only end a window; start it at 00:00",
                    );
                } else if restriction.from == restriction.to {
                    problems.add(
                        format!("{at}.to"),
                        format!(
                            "`from` and `to` are both {}, so the window is empty; a `to` before \
                             `from` crosses midnight, and a whole day is from 00:00 to 24:00",
                            restriction.to
                        ),
                    );
                }
            }
        }
        for (index, cover) in self.overrides.iter().enumerate() {
            let at = format!("{at}.overrides[{index}]");
            if !names.contacts.contains(cover.who.as_str()) {
                problems.add(
                    format!("{at}.who"),
                    format!("no contact is named `{}`", cover.who),
                );
            }
            if cover.from >= cover.to {
                problems.add(
                    format!("{at}.to"),
                    format!("{} is not after `from` {}", cover.to, cover.from),
                );
            }
            if let Some(rotation) = &cover.rotation {
                if !self.rotations.iter().any(|r| &r.name == rotation) {
                    let names: Vec<&str> = self.rotations.iter().map(|r| r.name.as_str()).collect();
                    problems.add(
                        format!("{at}.rotation"),
                        format!(
                            "no rotation is named `{rotation}` in this schedule (it has: {})",
                            names.join(", ")
                        ),
                    );
                }
            }
        }
        if !self.allow_gaps && !self.rotations.is_empty() {
            let mut covered = WeekMask::default();
            for rotation in &self.rotations {
                covered.add(&WeekMask::of(&rotation.restrictions));
            }
            if let Some(problem) = gap_problem(&covered) {
                problems.add(format!("{at}.rotations"), problem);
            }
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("time_zone", &self.time_zone)
            .field("allow_gaps", &self.allow_gaps)
            .field("rotations", &self.rotations)
            .field("overrides", &self.overrides)
            .finish()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.time_zone == other.time_zone
            && self.allow_gaps == other.allow_gaps
            && self.rotations == other.rotations
            && self.overrides == other.overrides
    }
}

pub(super) fn is_false(value: &bool) -> bool {
    !*value
}

pub(super) fn instant(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}
