//! Instants from local readings, by the rule in the folder's doc.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{GapInfo, Tz};

/// The instant of a wall-clock reading in `zone`, by the rule in the module doc: the
/// earlier of two, and in a gap the offset from before the gap. Seconds since the epoch.
pub(super) fn resolve(zone: Tz, local: NaiveDateTime) -> i64 {
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

pub(super) fn offset_at(zone: Tz, secs: i64) -> Option<i32> {
    let utc = DateTime::from_timestamp(secs, 0)?.naive_utc();
    Some(zone.offset_from_utc_datetime(&utc).fix().local_minus_utc())
}

pub(super) fn local_at(zone: Tz, secs: i64) -> Option<NaiveDateTime> {
    Some(local_of(zone, DateTime::from_timestamp(secs, 0)?))
}

/// The wall-clock reading of `at`; at the very ends of the calendar, where the reading
/// would not fit, the UTC reading.
pub(super) fn local_of(zone: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    let utc = at.naive_utc();
    let offset = zone.offset_from_utc_datetime(&utc).fix();
    utc.checked_add_offset(offset).unwrap_or(utc)
}
