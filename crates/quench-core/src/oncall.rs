//! On-call schedules: who is on call at an instant.
//!
//! A schedule has a time zone, one or more rotations and optional overrides. Each
//! rotation has at most one person on call at a time, so a schedule with several
//! rotations has several people on call at once. The rule, precisely:
//!
//! - **Local date-times.** Every date-time in a schedule (`start`, an override's `from`
//!   and `to`) is a wall-clock reading in the schedule's `time_zone`. It becomes an
//!   instant by one rule everywhere: a reading that exists once is that instant; one that
//!   exists twice (the repeated hour when clocks go back) is the *earlier* instant; one
//!   that does not exist (the hour skipped when clocks go forward) is read with the offset
//!   in force *before* the gap, which is the same as shifting the wall-clock reading
//!   forward by the length of the gap (02:30 in a 02:00-03:00 gap happens at 03:30).
//! - **Shift boundaries.** Shift `k` (`k` = 0, 1, 2, ...) starts at hand-off `k` and
//!   ends at hand-off `k + 1`. For a length in whole days (`daily`, `weekly`, `Nd`)
//!   hand-offs are in local calendar days: hand-off `k` is the wall-clock time of `start`
//!   on the date `start.date + k * N` days, made an instant by the rule above, so a daily
//!   shift spanning a change of offset lasts 23 or 25 hours. For any other length
//!   (`12h`, `90m`, `1d12h`) hand-offs are elapsed time: hand-off `k` is the instant of
//!   `start` plus `k` times the length. Before hand-off 0 the rotation has nobody.
//! - **Who.** Shift `k` belongs to `members[k mod members.len()]`.
//! - **Restrictions.** A rotation with restrictions has nobody on call at an instant
//!   whose local time falls outside all of its windows. A window lists days and a
//!   `from`-`to` time of day and covers `[from, to)` on each listed day; when `to` is not
//!   after `from` it crosses midnight and covers `from` to 24:00 on the listed day and
//!   00:00 to `to` on the day after (Sunday's runs into Monday). `to` may be `24:00`.
//!   Restrictions only hide people: they never move hand-offs. They read the local wall
//!   clock, so on the day clocks go forward a window inside the skipped hour covers
//!   nothing, and on the day they go back the repeated hour is covered twice.
//! - **Overrides.** An override covers `[from, to)`. With a `rotation` it replaces that
//!   rotation's person with `who`; without one it replaces every rotation's person. When
//!   overrides overlap, the one later in the list wins (per rotation: an override for a
//!   rotation listed after an override for everyone wins on that rotation, and the
//!   reverse). An override is explicit coverage: it applies before a rotation's start and
//!   outside its restrictions too.
//! - **Result.** The people on call are the rotations' people (after overrides) in
//!   rotation order, each name once (the first occurrence is kept); a rotation with
//!   nobody adds nobody.
//!
//! Lookups are arithmetic: the shift index comes from the days between local dates (or
//! the elapsed seconds), never from walking shifts since `start`, and overrides are
//! compiled once (on the first lookup) into sorted, non-overlapping intervals searched
//! by bisection.
//!
//! Validation (see [`Schedule::validate`]) also checks coverage: unless `allow_gaps` is
//! true, every minute of the week, in local time, must be inside some rotation's windows
//! (a rotation without restrictions covers the whole week). Time before a rotation's
//! `start` and the effect of clock changes on windows do not count as gaps.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Timelike, Utc,
};
use chrono_tz::{GapInfo, Tz};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{field, ConfigError};
use crate::duration::Span;

const DAY_SECS: u64 = 86_400;
const WEEK_SECS: u64 = 7 * DAY_SECS;
const WEEK_MINUTES: usize = 7 * 1440;

/// An on-call schedule: `schedules.<name>` in the config.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// IANA time zone name (`Europe/Berlin`, `America/New_York`, `UTC`) that every
    /// date-time and time of day in this schedule is read in.
    #[serde(with = "zone_name")]
    #[schemars(with = "ZoneName")]
    time_zone: Tz,
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

/// One rotation: members take turns in shifts of `every`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Unique within the schedule; overrides name rotations by it.
    pub name: String,
    /// Contact names in hand-off order: `members[0]` has the first shift.
    pub members: Vec<String>,
    /// Shift length.
    pub every: ShiftLength,
    /// Local date-time of the first hand-off; before it the rotation has nobody.
    pub start: LocalDateTime,
    /// Weekly windows (local time) outside which this rotation has nobody on call.
    /// None: the rotation covers the whole week.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<Restriction>,
}

/// A weekly window, in local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Restriction {
    /// The days the window starts on.
    pub days: Vec<Day>,
    /// Start of the window.
    pub from: TimeOfDay,
    /// End of the window (exclusive). Not after `from`: the window crosses midnight and
    /// ends on the next day.
    pub to: TimeOfDay,
}

/// Someone covering a rotation, or everyone, for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The contact on call instead.
    pub who: String,
    /// Local date-time the cover starts.
    pub from: LocalDateTime,
    /// Local date-time the cover ends (exclusive).
    pub to: LocalDateTime,
    /// The rotation covered. Without it `who` replaces everyone on call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<String>,
}

/// A day of the week.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    /// 0 for Monday to 6 for Sunday.
    pub fn index(self) -> usize {
        self as usize
    }

    fn label(index: usize) -> &'static str {
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][index % 7]
    }
}

/// Who is on call from `start` until `end` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Empty when nobody is.
    pub on_call: Vec<String>,
}

impl Schedule {
    pub fn new(
        time_zone: Tz,
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

    pub fn time_zone(&self) -> Tz {
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

    /// Checks what the types cannot express. Errors name the field path
    /// (`schedules.<name>.rotations[0].members`); several are returned as
    /// [`ConfigError::Invalid`].
    pub fn validate(
        &self,
        name: &str,
        is_contact: &dyn Fn(&str) -> bool,
    ) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        self.check(name, is_contact, &mut errors);
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Invalid(errors)),
        }
    }

    /// [`Schedule::validate`], adding each problem to `errors`.
    pub fn check(
        &self,
        name: &str,
        is_contact: &dyn Fn(&str) -> bool,
        errors: &mut Vec<ConfigError>,
    ) {
        let at = format!("schedules.{name}");
        if self.rotations.is_empty() {
            errors.push(field(
                format!("{at}.rotations"),
                "at least one rotation is needed",
            ));
        }
        for (index, rotation) in self.rotations.iter().enumerate() {
            let at = format!("{at}.rotations[{index}]");
            if rotation.name.trim().is_empty() {
                errors.push(field(format!("{at}.name"), "empty"));
            } else if let Some(first) = self.rotations[..index]
                .iter()
                .position(|r| r.name == rotation.name)
            {
                errors.push(field(
                    format!("{at}.name"),
                    format!(
                        "`{}` is also the name of rotations[{first}]; rotation names must be unique",
                        rotation.name
                    ),
                ));
            }
            if rotation.members.is_empty() {
                errors.push(field(
                    format!("{at}.members"),
                    "a rotation needs at least one member",
                ));
            }
            for (m, member) in rotation.members.iter().enumerate() {
                if !is_contact(member) {
                    errors.push(field(
                        format!("{at}.members[{m}]"),
                        format!("no contact is named `{member}`"),
                    ));
                }
            }
            if rotation.every.span() == Span::ZERO {
                errors.push(field(
                    format!("{at}.every"),
                    "a shift cannot last 0s; use `daily`, `weekly` or a positive duration",
                ));
            }
            for (r, restriction) in rotation.restrictions.iter().enumerate() {
                let at = format!("{at}.restrictions[{r}]");
                if restriction.days.is_empty() {
                    errors.push(field(
                        format!("{at}.days"),
                        "name at least one day (mon, tue, wed, thu, fri, sat, sun)",
                    ));
                }
                if restriction.from == TimeOfDay::END_OF_DAY {
                    errors.push(field(
                        format!("{at}.from"),
                        "24:00 can only end a window; start it at 00:00",
                    ));
                } else if restriction.from == restriction.to {
                    errors.push(field(
                        format!("{at}.to"),
                        format!(
                            "`from` and `to` are both {}, so the window is empty; a `to` before \
                             `from` crosses midnight, and a whole day is from 00:00 to 24:00",
                            restriction.to
                        ),
                    ));
                }
            }
        }
        for (index, cover) in self.overrides.iter().enumerate() {
            let at = format!("{at}.overrides[{index}]");
            if !is_contact(&cover.who) {
                errors.push(field(
                    format!("{at}.who"),
                    format!("no contact is named `{}`", cover.who),
                ));
            }
            if cover.from >= cover.to {
                errors.push(field(
                    format!("{at}.to"),
                    format!("{} is not after `from` {}", cover.to, cover.from),
                ));
            }
            if let Some(rotation) = &cover.rotation {
                if !self.rotations.iter().any(|r| &r.name == rotation) {
                    let names: Vec<&str> = self.rotations.iter().map(|r| r.name.as_str()).collect();
                    errors.push(field(
                        format!("{at}.rotation"),
                        format!(
                            "no rotation is named `{rotation}` in this schedule (it has: {})",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        if !self.allow_gaps && !self.rotations.is_empty() {
            let mut covered = WeekMask::default();
            for rotation in &self.rotations {
                covered.add(&WeekMask::of(&rotation.restrictions));
            }
            if let Some(problem) = gap_problem(&covered) {
                errors.push(field(format!("{at}.rotations"), problem));
            }
        }
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
        let at = at.with_timezone(&self.time_zone());
        if at.format("%Z").to_string().starts_with(['+', '-']) {
            at.format("%a %Y-%m-%d %H:%M %:z").to_string()
        } else {
            at.format("%a %Y-%m-%d %H:%M %Z").to_string()
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
        self.compiled.get_or_init(|| Compiled::new(self))
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

fn is_false(value: &bool) -> bool {
    !*value
}

fn instant(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

// ---------------------------------------------------------------------------------------
// Value types as written in the file.

/// A wall-clock date and time in the schedule's zone, written `YYYY-MM-DDTHH:MM` or
/// `YYYY-MM-DDTHH:MM:SS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDateTime(NaiveDateTime);

pub const LOCAL_DATE_TIME_PATTERN: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$";

impl LocalDateTime {
    /// Whole seconds: a fraction is dropped.
    pub fn new(naive: NaiveDateTime) -> Self {
        LocalDateTime(naive.with_nanosecond(0).unwrap_or(naive))
    }

    pub fn naive(self) -> NaiveDateTime {
        self.0
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let shape = |layout: &str| {
            raw.len() == layout.len()
                && raw.bytes().zip(layout.bytes()).all(|(c, l)| match l {
                    b'9' => c.is_ascii_digit(),
                    _ => c == l,
                })
        };
        let with_seconds = shape("9999-99-99T99:99:99");
        if !with_seconds && !shape("9999-99-99T99:99") {
            return Err(format!(
                "`{raw}` is not a local date-time `YYYY-MM-DDTHH:MM` (seconds optional; \
                 no zone or offset: the schedule's `time_zone` applies)"
            ));
        }
        let number = |range: std::ops::Range<usize>| -> u32 {
            raw.get(range)
                .and_then(|digits| digits.parse().ok())
                .unwrap_or(u32::MAX)
        };
        let year = i32::try_from(number(0..4)).unwrap_or(i32::MAX);
        let date = NaiveDate::from_ymd_opt(year, number(5..7), number(8..10))
            .ok_or_else(|| format!("`{raw}` is not a local date-time: no such date"))?;
        let seconds = if with_seconds { number(17..19) } else { 0 };
        let time =
            NaiveTime::from_hms_opt(number(11..13), number(14..16), seconds).ok_or_else(|| {
                format!(
                    "`{raw}` is not a local date-time: no such time of day (00:00:00 to 23:59:59)"
                )
            })?;
        Ok(LocalDateTime(date.and_time(time)))
    }
}

impl fmt::Display for LocalDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.second() == 0 {
            write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M"))
        } else {
            write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%S"))
        }
    }
}

/// A time of day, `HH:MM`, from `00:00` to `24:00` (the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(u16);

pub const TIME_OF_DAY_PATTERN: &str = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$";

impl TimeOfDay {
    pub const MIDNIGHT: TimeOfDay = TimeOfDay(0);
    pub const END_OF_DAY: TimeOfDay = TimeOfDay(1440);

    /// `None` unless 00:00 <= hour:minute <= 24:00.
    pub fn new(hour: u16, minute: u16) -> Option<Self> {
        let minutes = hour.checked_mul(60)?.checked_add(minute)?;
        (minute < 60 && minutes <= 1440).then_some(TimeOfDay(minutes))
    }

    /// Minutes since midnight, 0 to 1440.
    pub fn minutes(self) -> u16 {
        self.0
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || format!("`{raw}` is not a time of day `HH:MM` (00:00 to 24:00)");
        let (hour, minute) = raw.split_once(':').ok_or_else(bad)?;
        let digits = |s: &str, max: usize| {
            (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        match (
            digits(hour, 2),
            digits(minute, 2).filter(|_| minute.len() == 2),
        ) {
            (Some(h), Some(m)) => TimeOfDay::new(h, m).ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// How long a shift is: `daily`, `weekly` or a duration (`3d`, `12h`). Whole days are
/// calendar days in the schedule's zone; anything else is elapsed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShiftLength(Span);

pub const SHIFT_LENGTH_PATTERN: &str = r"^(daily|weekly|([0-9]+[smhd])+)$";

impl ShiftLength {
    pub fn new(span: Span) -> Self {
        ShiftLength(span)
    }

    /// `n` calendar days: `days(1)` is `daily`, `days(7)` is `weekly`.
    pub fn days(n: u64) -> Self {
        ShiftLength(Span::from_secs(n.saturating_mul(DAY_SECS)))
    }

    pub fn span(self) -> Span {
        self.0
    }

    /// The length in calendar days, if it is a positive whole number of days.
    pub fn whole_days(self) -> Option<u64> {
        let secs = self.0.as_secs();
        let (days, rest) = (secs / DAY_SECS, secs % DAY_SECS);
        (days > 0 && rest == 0).then_some(days)
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "daily" => Ok(Self::days(1)),
            "weekly" => Ok(Self::days(7)),
            other => Span::parse(other).map(ShiftLength).map_err(|_| {
                format!(
                    "`{raw}` is not a shift length: use `daily`, `weekly` or a duration \
                     such as `3d` or `12h`"
                )
            }),
        }
    }
}

impl fmt::Display for ShiftLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_secs() {
            DAY_SECS => f.write_str("daily"),
            WEEK_SECS => f.write_str("weekly"),
            _ => self.0.fmt(f),
        }
    }
}

/// Serde for the types above: a string parsed by `parse`, with `expecting` as the
/// message for anything that is not a string.
macro_rules! string_syntax {
    ($type:ty, $expecting:literal, $name:literal, $pattern:expr, $description:literal) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Syntax;

                impl de::Visitor<'_> for Syntax {
                    type Value = $type;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }

                    fn visit_str<E: de::Error>(self, raw: &str) -> Result<$type, E> {
                        <$type>::parse(raw).map_err(E::custom)
                    }
                }

                deserializer.deserialize_str(Syntax)
            }
        }

        impl JsonSchema for $type {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": $description
                })
            }
        }
    };
}

string_syntax!(
    LocalDateTime,
    "a local date-time `YYYY-MM-DDTHH:MM`",
    "LocalDateTime",
    LOCAL_DATE_TIME_PATTERN,
    "A wall-clock date and time in the schedule's time zone, `YYYY-MM-DDTHH:MM` with optional `:SS`, no offset."
);
string_syntax!(
    TimeOfDay,
    "a time of day `HH:MM`",
    "TimeOfDay",
    TIME_OF_DAY_PATTERN,
    "A time of day in the schedule's time zone, `HH:MM` from `00:00` to `24:00`."
);
string_syntax!(
    ShiftLength,
    "`daily`, `weekly` or a duration such as `3d` or `12h`",
    "ShiftLength",
    SHIFT_LENGTH_PATTERN,
    "Shift length: `daily`, `weekly`, or a duration with units s, m, h, d. Whole days are calendar days in the schedule's time zone (a day across a clock change lasts 23 or 25 hours); anything else is elapsed time."
);

/// The schema of `time_zone`.
struct ZoneName;

impl JsonSchema for ZoneName {
    fn schema_name() -> Cow<'static, str> {
        "TimeZone".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$",
            "description": "An IANA time zone name, e.g. `Europe/Berlin`, `America/New_York`, `UTC`."
        })
    }
}

mod zone_name {
    use super::*;

    pub fn serialize<S: Serializer>(zone: &Tz, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(zone.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
        struct Name;

        impl de::Visitor<'_> for Name {
            type Value = Tz;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IANA time zone name such as `Europe/Berlin`")
            }

            fn visit_str<E: de::Error>(self, raw: &str) -> Result<Tz, E> {
                raw.parse::<Tz>().map_err(|_| {
                    let hint = chrono_tz::TZ_VARIANTS
                        .iter()
                        .find(|z| z.name().eq_ignore_ascii_case(raw.trim()))
                        .map(|z| format!("; did you mean `{}`?", z.name()))
                        .unwrap_or_else(|| {
                            ": use an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`"
                                .to_string()
                        });
                    E::custom(format!("unknown time zone `{raw}`{hint}"))
                })
            }
        }

        deserializer.deserialize_str(Name)
    }
}

// ---------------------------------------------------------------------------------------
// Instants from local readings.

/// The instant of a wall-clock reading in `zone`, by the rule in the module doc: the
/// earlier of two, and in a gap the offset from before the gap. Seconds since the epoch.
fn resolve(zone: Tz, local: NaiveDateTime) -> i64 {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.timestamp(),
        LocalResult::Ambiguous(a, b) => a.timestamp().min(b.timestamp()),
        LocalResult::None => {
            let before = GapInfo::new(&local, &zone)
                .and_then(|gap| gap.begin)
                .map(|(_, offset)| offset.fix())
                .unwrap_or_else(|| {
                    let day_before = local - chrono::Duration::days(1);
                    zone.offset_from_utc_datetime(&day_before).fix()
                });
            local.and_utc().timestamp() - i64::from(before.local_minus_utc())
        }
    }
}

fn offset_at(zone: Tz, secs: i64) -> Option<i32> {
    let utc = DateTime::from_timestamp(secs, 0)?.naive_utc();
    Some(zone.offset_from_utc_datetime(&utc).fix().local_minus_utc())
}

fn local_at(zone: Tz, secs: i64) -> Option<NaiveDateTime> {
    Some(local_of(zone, DateTime::from_timestamp(secs, 0)?))
}

/// The wall-clock reading of `at`; at the very ends of the calendar, where the reading
/// would not fit, the UTC reading.
fn local_of(zone: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    let utc = at.naive_utc();
    let offset = zone.offset_from_utc_datetime(&utc).fix();
    utc.checked_add_offset(offset).unwrap_or(utc)
}

// ---------------------------------------------------------------------------------------
// Compiled form.

const NO_OVERRIDE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Compiled {
    rotations: Vec<Turns>,
    /// Sorted instants (seconds) where the set of overrides in force changes.
    bounds: Vec<i64>,
    /// For each of the `bounds.len() + 1` intervals between bounds, one entry per
    /// rotation: the index of the override covering it, or `NO_OVERRIDE`.
    winners: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Turns {
    clock: Clock,
    window: Option<Box<WeekMask>>,
}

#[derive(Debug, Clone, Copy)]
enum Clock {
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
    fn new(schedule: &Schedule) -> Self {
        let zone = schedule.time_zone;
        let rotations: Vec<Turns> = schedule
            .rotations
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
        let covers: Vec<(usize, i64, i64, usize)> = schedule
            .overrides
            .iter()
            .enumerate()
            .filter_map(|(index, cover)| {
                let target = match &cover.rotation {
                    None => everyone,
                    Some(name) => schedule.rotations.iter().position(|r| &r.name == name)?,
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
    fn new(zone: Tz, rotation: &Rotation) -> Self {
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
    fn handoff(self, zone: Tz, k: i64) -> Option<i64> {
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
    fn shift_at(self, zone: Tz, t: i64, local: NaiveDateTime) -> Option<i64> {
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
    fn handoffs_between(self, zone: Tz, lo: i64, hi: i64, out: &mut Vec<i64>) {
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
    fn person<'a>(
        &self,
        zone: Tz,
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

fn minute_of_week(local: NaiveDateTime) -> usize {
    let day = local.weekday().num_days_from_monday() as usize;
    day * 1440 + local.hour() as usize * 60 + local.minute() as usize
}

/// Minutes of the week (Monday 00:00 = 0) a rotation covers.
#[derive(Clone, PartialEq, Eq)]
struct WeekMask([u64; WEEK_MINUTES.div_ceil(64)]);

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
    fn of(restrictions: &[Restriction]) -> Self {
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

    fn add(&mut self, other: &WeekMask) {
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
fn gap_problem(covered: &WeekMask) -> Option<String> {
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

fn week_window(start: usize, end: usize) -> String {
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
fn window_cuts(zone: Tz, rotations: &[Rotation], lo: i64, hi: i64, out: &mut Vec<i64>) {
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
            match zone.from_local_datetime(&date.and_time(time)) {
                LocalResult::Single(t) => out.push(t.timestamp()),
                LocalResult::Ambiguous(a, b) => out.extend([a.timestamp(), b.timestamp()]),
                LocalResult::None => {}
            }
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
fn offset_changes(zone: Tz, lo: i64, hi: i64, out: &mut Vec<i64>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Asia, Australia, Europe};
    use proptest::prelude::*;

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
            zone,
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

    fn problems(schedule: &Schedule, is_contact: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        schedule.check("primary", is_contact, &mut errors);
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
        assert_eq!(schedule.time_zone(), Europe::Berlin);
        assert_eq!(schedule.rotations().len(), 2);
        assert_eq!(schedule.rotations()[0].every, ShiftLength::days(7));
        assert_eq!(schedule.overrides()[0].from, local("2026-12-24T00:00"));
        assert_eq!(schedule.validate("primary", &|_| true), Ok(()));
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
            Europe::Berlin,
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
            America::New_York,
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
            Europe::Berlin,
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
        let schedule = Schedule::new(Europe::Berlin, vec![business], Vec::new(), true);
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
        let schedule = Schedule::new(Tz::UTC, vec![nights], Vec::new(), true);
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
        Schedule::new(Europe::Berlin, vec![business, sun], overrides, false)
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
            Tz::UTC,
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
        let schedule = Schedule::new(Europe::Berlin, vec![r], Vec::new(), true);
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
            Europe::Berlin,
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
        match schedule.validate("primary", &is_contact) {
            Err(ConfigError::Invalid(errors)) => assert_eq!(errors.len(), want.len()),
            other => panic!("expected several errors, got {other:?}"),
        }
        let empty = Schedule::new(Tz::UTC, Vec::new(), Vec::new(), false);
        assert_eq!(
            empty.validate("primary", &|_| true),
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
            Europe::Berlin,
            vec![days.clone(), nights],
            Vec::new(),
            false,
        );
        assert_eq!(
            gappy.validate("primary", &|_| true),
            Err(field(
                "schedules.primary.rotations",
                "nobody is on call Sat 00:00-Mon 09:00; add a rotation or restriction covering \
                 it, or set `allow_gaps: true`"
            ))
        );
        let only_days = Schedule::new(Europe::Berlin, vec![days.clone()], Vec::new(), false);
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
        let lunch = Schedule::new(Tz::UTC, vec![lunch], Vec::new(), false);
        assert_eq!(
            problems(&lunch, &|_| true)[0].1,
            "nobody is on call Mon 12:00-13:00 (and 6 more windows each week); add a rotation \
             or restriction covering it, or set `allow_gaps: true`"
        );
        let allowed = Schedule::new(Europe::Berlin, vec![days.clone()], Vec::new(), true);
        assert_eq!(allowed.validate("primary", &|_| true), Ok(()));
        let mut whole_day = days;
        whole_day.restrictions = vec![window(&Day::ALL, "00:00", "24:00")];
        let whole = Schedule::new(Tz::UTC, vec![whole_day], Vec::new(), false);
        assert_eq!(whole.validate("primary", &|_| true), Ok(()));
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
            chrono_tz::Pacific::Apia,
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
        offset_changes(zone, FROM_2025, FROM_2025 + TWO_YEARS, &mut changes);
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
        let gap = offset_at(zone, guess + 86_400).expect("offset")
            - offset_at(zone, guess - 86_400).expect("offset");
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
            let schedule = Schedule::new(zone, rotations, overrides, true);
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
            let schedule = Schedule::new(zone, vec![rotation], Vec::new(), false);
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
            let schedule = Schedule::new(zone, vec![rotation.clone()], Vec::new(), true);
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
            let schedule = Schedule::new(zone, rotations.clone(), overrides.clone(), true);
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
}
