//! Text helpers shared by chat rendering, runbook outcomes and stored ids: untrusted
//! output made safe to show, and a hash that is stable across builds.

/// The marker appended where output was cut.
pub const TRUNCATION_MARKER: &str = "\n…[truncated by Quench]";

/// Whether untrusted text keeps this character: line breaks and tabs, nothing else of
/// the control characters.
pub(crate) fn kept(c: char) -> bool {
    c == '\n' || c == '\t' || !c.is_control()
}

/// Instance output is untrusted text: control characters (terminal escapes, NULs, CRs
/// that would overwrite a line in a console) are dropped, except `\n` and `\t`; then it
/// is cut to at most `limit` bytes on a character boundary, the cut marked.
pub fn sanitize_output(raw: &str, limit: u32) -> String {
    let clean: String = raw.chars().filter(|c| kept(*c)).collect();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if clean.len() <= limit {
        return clean;
    }
    let budget = limit.saturating_sub(TRUNCATION_MARKER.len());
    let mut cut = budget.min(clean.len());
    while cut > 0 && !clean.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + TRUNCATION_MARKER.len());
    out.push_str(&clean[..cut]);
    out.push_str(TRUNCATION_MARKER);
    out
}

/// FNV-1a: stable across builds and platforms, unlike `DefaultHasher`, which matters
/// because these hashes end up in stored ids.
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
