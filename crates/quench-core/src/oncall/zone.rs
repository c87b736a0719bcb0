//! Time zones, and instants from local readings by the rule in the folder's doc.
//!
//! The zone data is jiff's bundled copy of the IANA database: one blob of TZif data and a
//! sorted name index, so a binary that links it carries one relocation per zone name and
//! none per transition (chrono-tz's compiled tables cost about 30,000 relocations, written
//! by the loader at every cold start). A zone is read from the blob the first time a
//! config names it and kept for the life of the process.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono::{Datelike, FixedOffset, Timelike};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;

/// An IANA time zone, by its exact name (`Europe/Berlin`, `UTC`). Cheap to copy: each
/// zone is loaded once per process.
#[derive(Clone, Copy)]
pub struct Zone(&'static Loaded);

struct Loaded {
    name: &'static str,
    zone: TimeZone,
}

/// The zones loaded so far; a config names a handful.
static LOADED: Mutex<Vec<&'static Loaded>> = Mutex::new(Vec::new());

impl Zone {
    /// The zone named exactly `name`, or None. Names are case-sensitive, as in the
    /// database.
    pub fn get(name: &str) -> Option<Zone> {
        let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(zone) = loaded.iter().find(|z| z.name == name) {
            return Some(Zone(zone));
        }
        let zone = TimeZone::get(name).ok()?;
        if zone.iana_name() != Some(name) {
            return None;
        }
        let entry: &'static Loaded = Box::leak(Box::new(Loaded {
            name: Box::leak(name.to_string().into_boxed_str()),
            zone,
        }));
        loaded.push(entry);
        Some(Zone(entry))
    }

    /// The database's spelling of `name` if it names a zone in another case, for hints.
    pub fn spelled(name: &str) -> Option<String> {
        TimeZone::get(name.trim())
            .ok()
            .and_then(|zone| zone.iana_name().map(str::to_string))
    }

    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// The offset from UTC in force at `secs` (clamped to the years -9999 to 9999,
    /// outside which the offsets at the ends hold).
    fn offset_secs(self, secs: i64) -> i32 {
        let at = Timestamp::from_second(secs).unwrap_or(if secs < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        });
        self.0.zone.to_offset(at).seconds()
    }

    /// The abbreviation in force at `secs` (`CET`, `AEDT`; `+03` for zones without one).
    pub(super) fn abbreviation(self, secs: i64) -> String {
        let at = Timestamp::from_second(secs).unwrap_or(if secs < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        });
        self.0.zone.to_offset_info(at).abbreviation().to_string()
    }

    /// The offsets a wall-clock reading may have, or None beyond the years -9999 to 9999.
    fn offsets_of(self, local: NaiveDateTime) -> Option<AmbiguousOffset> {
        let year = i16::try_from(local.year()).ok()?;
        let reading = jiff::civil::DateTime::new(
            year,
            i8::try_from(local.month()).ok()?,
            i8::try_from(local.day()).ok()?,
            i8::try_from(local.hour()).ok()?,
            i8::try_from(local.minute()).ok()?,
            i8::try_from(local.second()).ok()?,
            0,
        )
        .ok()?;
        Some(self.0.zone.to_ambiguous_timestamp(reading).offset())
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Zone {}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The instants a wall-clock reading in `zone` stands for: one, two (the repeated hour,
/// earlier first) or none (the skipped hour). Beyond the years -9999 to 9999, the one
/// instant of the offset at that end.
pub(super) fn instants(zone: Zone, local: NaiveDateTime) -> Vec<i64> {
    let secs = local.and_utc().timestamp();
    let minus = |offset: jiff::tz::Offset| secs - i64::from(offset.seconds());
    match zone.offsets_of(local) {
        Some(AmbiguousOffset::Unambiguous { offset }) => vec![minus(offset)],
        Some(AmbiguousOffset::Fold { before, after }) => {
            let (a, b) = (minus(before), minus(after));
            vec![a.min(b), a.max(b)]
        }
        Some(AmbiguousOffset::Gap { .. }) => Vec::new(),
        None => vec![secs - i64::from(zone.offset_secs(secs))],
    }
}

/// The instant of a wall-clock reading in `zone`, by the rule in the module doc: the
/// earlier of two, and in a gap the offset from before the gap. Seconds since the epoch.
pub(super) fn resolve(zone: Zone, local: NaiveDateTime) -> i64 {
    let secs = local.and_utc().timestamp();
    let minus = |offset: jiff::tz::Offset| secs - i64::from(offset.seconds());
    match zone.offsets_of(local) {
        Some(AmbiguousOffset::Unambiguous { offset }) => minus(offset),
        Some(AmbiguousOffset::Fold { before, after }) => minus(before).min(minus(after)),
        Some(AmbiguousOffset::Gap { before, .. }) => minus(before),
        None => secs - i64::from(zone.offset_secs(secs)),
    }
}

pub(super) fn offset_at(zone: Zone, secs: i64) -> Option<i32> {
    DateTime::from_timestamp(secs, 0)?;
    Some(zone.offset_secs(secs))
}

pub(super) fn local_at(zone: Zone, secs: i64) -> Option<NaiveDateTime> {
    Some(local_of(zone, DateTime::from_timestamp(secs, 0)?))
}

/// The wall-clock reading of `at`; at the very ends of the calendar, where the reading
/// would not fit, the UTC reading.
pub(super) fn local_of(zone: Zone, at: DateTime<Utc>) -> NaiveDateTime {
    let utc = at.naive_utc();
    FixedOffset::east_opt(zone.offset_secs(at.timestamp()))
        .and_then(|offset| utc.checked_add_offset(offset))
        .unwrap_or(utc)
}
