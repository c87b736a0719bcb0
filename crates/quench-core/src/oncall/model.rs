//! The parts of a schedule as written: rotations, their weekly restrictions,
//! overrides, days, and the shifts a listing shows.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::oncall::local_time::*;

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

    pub(super) fn label(index: usize) -> &'static str {
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
