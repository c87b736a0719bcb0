//! Shell-style globs for routing: `*` matches any run of characters, `?` exactly one.
//! Anything else matches itself, so a plain string is an exact match.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
    source: String,
}

impl Glob {
    pub fn new(source: &str) -> Self {
        Glob {
            pattern: source.chars().collect(),
            source: source.to_string(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Iterative matcher with one backtrack point: linear in practice and never
    /// exponential, whatever the pattern (routing runs on every alarm).
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.pattern.get(p) {
                Some('*') => {
                    star = Some((p, t));
                    p += 1;
                }
                Some('?') => {
                    p += 1;
                    t += 1;
                }
                Some(c) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((star_p, star_t)) => {
                        p = star_p + 1;
                        t = star_t + 1;
                        star = Some((star_p, star_t + 1));
                    }
                    None => return false,
                },
            }
        }
        self.pattern[p..].iter().all(|c| *c == '*')
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.source)
    }
}

impl Serialize for Glob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Glob::new(&String::deserialize(deserializer)?))
    }
}

impl JsonSchema for Glob {
    fn schema_name() -> Cow<'static, str> {
        "Glob".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A glob: `*` matches any run of characters, `?` one character, anything else itself."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_literals_stars_and_question_marks() {
        assert!(Glob::new("AWS/EC2").matches("AWS/EC2"));
        assert!(!Glob::new("AWS/EC2").matches("AWS/EC22"));
        assert!(Glob::new("web-*").matches("web-1-cpu-high"));
        assert!(Glob::new("*-cpu-*").matches("web-1-cpu-high"));
        assert!(!Glob::new("*-cpu-*").matches("web-1-mem-high"));
        assert!(Glob::new("web-?-cpu").matches("web-1-cpu"));
        assert!(!Glob::new("web-?-cpu").matches("web-12-cpu"));
        assert!(Glob::new("*").matches(""));
        assert!(!Glob::new("?").matches(""));
        assert!(Glob::new("a*b*c").matches("aXXbYYbc"));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let glob = Glob::new(&"*a".repeat(50));
        assert!(!glob.matches(&"a".repeat(49)));
    }
}
