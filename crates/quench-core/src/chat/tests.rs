//! Unit tests of the chat folder's private parts.

use chrono::Duration;

use super::render::*;
use crate::text::{sanitize_output, TRUNCATION_MARKER};

#[test]
fn durations_read_in_their_two_largest_units() {
    let cases = [
        (0, "0s"),
        (45, "45s"),
        (60, "1m"),
        (750, "12m 30s"),
        (3600, "1h"),
        (7500, "2h 5m"),
        (7530, "2h 5m"),
        (86_400, "1d"),
        (3 * 86_400 + 4 * 3600 + 59, "3d 4h"),
        (-30, "0s"),
    ];
    for (secs, text) in cases {
        assert_eq!(duration_text(Duration::seconds(secs)), text, "{secs}s");
    }
    assert_eq!(duration_text(Duration::milliseconds(59_999)), "59s");
}

#[test]
fn slack_escape_neutralises_mentions_and_links() {
    assert_eq!(slack_escape("<!channel>"), "&lt;!channel&gt;");
    assert_eq!(slack_escape("<@U123> hi"), "&lt;@U123&gt; hi");
    assert_eq!(slack_escape("<http://evil|x>"), "&lt;http://evil|x&gt;");
    assert_eq!(slack_escape("a & b"), "a &amp; b");
    assert_eq!(slack_escape("ping @here"), "ping @\u{200D}here");
    assert_eq!(
        slack_escape("@Channel @EVERYONE"),
        "@\u{200D}Channel @\u{200D}EVERYONE"
    );
    assert_eq!(slack_escape("mail ops@example.com"), "mail ops@example.com");
    assert_eq!(slack_escape("[a](http://b)"), "[a]\u{200B}(http://b)");
    assert_eq!(slack_escape("a\0b\u{1b}[31mc\r\nd\te"), "ab[31mc\nd\te");
    assert_eq!(slack_escape("*bold* ```code```"), "*bold* ```code```");
}

#[test]
fn markdown_escape_neutralises_links_and_emphasis() {
    assert_eq!(markdown_escape("[a](http://b)"), r"\[a\]\(http://b\)");
    assert_eq!(markdown_escape("**b**"), r"\*\*b\*\*");
    assert_eq!(markdown_escape("```"), r"\`\`\`");
    assert_eq!(
        markdown_escape("<!channel> #1"),
        "\\<\u{200B}\\!channel\\> \\#1"
    );
    assert_eq!(markdown_escape("<@U1>"), "\\<\u{200B}@U1\\>");
    assert_eq!(
        markdown_escape(r"a\b_c|d~e!f+g-h.i{j}"),
        r"a\\b\_c\|d\~e\!f\+g\-h\.i\{j\}"
    );
    assert_eq!(markdown_escape("hey @All"), "hey @\u{200D}All");
    assert_eq!(markdown_escape("x\0y\u{1b}z\n"), "xyz\n");
}

#[test]
fn code_blocks_cannot_be_closed_from_inside() {
    let block = code_block(&slack_escape("a\n```\n<!here> [x](http://e)\n````"), 3000);
    assert!(block.starts_with("```\n") && block.ends_with("\n```"));
    let inside = &block[4..block.len() - 4];
    assert!(!inside.contains("``"), "{inside}");
    assert!(!inside.contains("](") && !inside.contains('<'), "{inside}");
}

#[test]
fn long_text_is_bounded_after_escaping() {
    let hostile = "<".repeat(10_000);
    let escaped = sanitize_output(&slack_escape(&hostile), SLACK_TEXT_LIMIT);
    assert!(escaped.len() <= 3000);
    assert!(escaped.ends_with(TRUNCATION_MARKER));
    let block = code_block(&markdown_escape(&"`".repeat(10_000)), 1000);
    assert!(block.len() <= 1000);
    assert!(block.contains(TRUNCATION_MARKER));
}
