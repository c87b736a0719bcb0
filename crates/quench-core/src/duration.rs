//! Durations as people write them in config: `90s`, `5m`, `1h30m`, `2d`.
//!
//! A span is at most [`Span::MAX`], so turning it into a chrono duration cannot fail;
//! each config field bounds its own spans more tightly when it is validated. Adding one
//! to an instant is checked ([`Span::after`]): the instant may come from outside.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Whole seconds; sub-second precision means nothing for alarms evaluated per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(u64);

pub const DURATION_PATTERN: &str = r"^([0-9]+[smhd])+$";

/// Seconds in a day, for writing bounds.
pub const DAY_SECS: u64 = 86_400;

impl Span {
    pub const ZERO: Span = Span(0);

    /// The longest span there is, 36600 days (a century): no config field means more,
    /// and far below what a chrono duration or a date can hold.
    pub const MAX: Span = Span(36_600 * DAY_SECS);

    /// `secs`, or [`Span::MAX`] if longer.
    pub const fn from_secs(secs: u64) -> Self {
        if secs > Self::MAX.0 {
            Self::MAX
        } else {
            Span(secs)
        }
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }

    pub fn to_chrono(self) -> TimeDelta {
        // A span is at most `MAX`, which fits; the fallback only keeps this panic-free.
        i64::try_from(self.0)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .unwrap_or(TimeDelta::MAX)
    }

    /// `at` plus this span; `None` past the last instant a timestamp can hold, which no
    /// clock reaches: a due time there is never due.
    pub fn after(self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        at.checked_add_signed(self.to_chrono())
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("empty duration".into());
        }
        let too_long = || {
            format!(
                "`{raw}` is longer than {}, the longest duration Quench reads",
                Self::MAX
            )
        };
        let mut total: u64 = 0;
        let mut digits = String::new();
        for ch in raw.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let unit = match ch {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                _ => {
                    return Err(format!(
                        "`{raw}` is not a duration: unit `{ch}` is not one of s, m, h, d"
                    ))
                }
            };
            if digits.is_empty() {
                return Err(format!("`{raw}` is not a duration: `{ch}` has no number"));
            }
            let amount: u64 = digits.parse().map_err(|_| too_long())?;
            total = amount
                .checked_mul(unit)
                .and_then(|s| total.checked_add(s))
                .filter(|total| *total <= Self::MAX.0)
                .ok_or_else(too_long)?;
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(format!(
                "`{raw}` is not a duration: `{digits}` needs a unit (s, m, h or d)"
            ));
        }
        Ok(Span(total))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Span::parse(&raw).map_err(de::Error::custom)
    }
}

impl JsonSchema for Span {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: numbers with units s, m, h, d, e.g. `90s`, `5m`, `1h30m`."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(Span::parse("90s"), Ok(Span(90)));
        assert_eq!(Span::parse("5m"), Ok(Span(300)));
        assert_eq!(Span::parse("1h30m"), Ok(Span(5_400)));
        assert_eq!(Span::parse("2d"), Ok(Span(172_800)));
        assert_eq!(Span::parse("0s"), Ok(Span(0)));
    }

    #[test]
    fn refuses_malformed_durations() {
        assert!(Span::parse("").is_err());
        assert!(Span::parse("5").unwrap_err().contains("needs a unit"));
        assert!(Span::parse("m").unwrap_err().contains("has no number"));
        assert!(Span::parse("5w").unwrap_err().contains("unit `w`"));
        assert!(Span::parse("99999999999999999999s").is_err());
        assert!(Span::parse("36601d")
            .unwrap_err()
            .contains("longer than 36600d"));
        assert_eq!(Span::parse("36600d"), Ok(Span::MAX));
    }

    #[test]
    fn every_span_converts_and_adds_without_a_panic() {
        assert_eq!(Span::from_secs(u64::MAX), Span::MAX);
        assert_eq!(
            Span::MAX.to_chrono(),
            TimeDelta::days(36_600),
            "the longest span converts exactly"
        );
        let start = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(
            Span::from_secs(90).after(start),
            Some(start + TimeDelta::seconds(90))
        );
        assert_eq!(Span::MAX.after(DateTime::<Utc>::MAX_UTC), None);
        assert_eq!(
            Span::ZERO.after(DateTime::<Utc>::MAX_UTC),
            Some(DateTime::<Utc>::MAX_UTC)
        );
    }

    #[test]
    fn displays_in_the_form_it_parses() {
        for raw in ["90s", "5m", "1h30m", "2d", "1d1h1m1s"] {
            let span = Span::parse(raw).expect("valid");
            assert_eq!(Span::parse(&span.to_string()), Ok(span));
        }
        assert_eq!(Span(5_400).to_string(), "1h30m");
    }
}
