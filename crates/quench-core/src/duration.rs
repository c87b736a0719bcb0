//! Durations as people write them in config: `90s`, `5m`, `1h30m`, `2d`.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Whole seconds; sub-second precision means nothing for alarms evaluated per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(u64);

pub const DURATION_PATTERN: &str = r"^([0-9]+[smhd])+$";

impl Span {
    pub const ZERO: Span = Span(0);

    pub const fn from_secs(secs: u64) -> Self {
        Span(secs)
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.0).unwrap_or(i64::MAX))
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("empty duration".into());
        }
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
            let amount: u64 = digits
                .parse()
                .map_err(|_| format!("`{raw}` is not a duration: number too large"))?;
            total = amount
                .checked_mul(unit)
                .and_then(|s| total.checked_add(s))
                .ok_or_else(|| format!("`{raw}` is not a duration: too large"))?;
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
