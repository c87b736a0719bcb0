//! Value types as written in the file: local date-times, times of day, shift lengths
//! and zone names, each with its string syntax and schema.

use std::borrow::Cow;
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::Span;
pub(super) use crate::duration::DAY_SECS;
use crate::oncall::zone::Zone;

pub(super) const WEEK_SECS: u64 = 7 * DAY_SECS;
pub(super) const WEEK_MINUTES: usize = 7 * 1440;

/// A wall-clock date and time in the schedule's zone, written `YYYY-MM-DDTHH:MM` or
/// `YYYY-MM-DDTHH:MM:SS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDateTime(pub(super) NaiveDateTime);

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
pub struct TimeOfDay(pub(super) u16);

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
pub(super) struct ZoneName;

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

pub(super) mod zone_name {
    use super::*;

    pub fn serialize<S: Serializer>(zone: &Zone, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(zone.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Zone, D::Error> {
        struct Name;

        impl de::Visitor<'_> for Name {
            type Value = Zone;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IANA time zone name such as `Europe/Berlin`")
            }

            fn visit_str<E: de::Error>(self, raw: &str) -> Result<Zone, E> {
                Zone::get(raw).ok_or_else(|| {
                    let hint = Zone::spelled(raw)
                        .map(|name| format!("; did you mean `{name}`?"))
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
