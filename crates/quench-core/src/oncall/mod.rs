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
//! Validation (the [`Validate`](crate::config::Validate) of a [`Schedule`]) also checks
//! coverage: unless `allow_gaps` is true, every minute of the week, in local time, must
//! be inside some rotation's windows (a rotation without restrictions covers the whole
//! week). Time before a rotation's `start` and the effect of clock changes on windows do
//! not count as gaps.
//!
//! Layout: `schedule` (the section, its validation and lookups), `model` (its parts:
//! rotations, restrictions, overrides, shifts), `local_time` (the value types and their
//! syntax), `zone` (the zone type, on jiff's bundled database, and instants from local
//! readings), `compiled` (shift arithmetic, override intervals, the coverage mask);
//! `tests` holds the unit and property tests of all four, which reach their private
//! parts: lookups, checks and properties, one file each.

pub(crate) mod compiled;
pub(crate) mod local_time;
pub(crate) mod model;
pub(crate) mod schedule;
#[cfg(test)]
mod tests;
pub(crate) mod zone;

pub use local_time::{
    LocalDateTime, ShiftLength, TimeOfDay, LOCAL_DATE_TIME_PATTERN, SHIFT_LENGTH_PATTERN,
    TIME_OF_DAY_PATTERN,
};
pub use model::{Day, Override, Restriction, Rotation, Shift};
pub use schedule::Schedule;
pub use zone::Zone;
