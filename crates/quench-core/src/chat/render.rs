//! Rendering a [`super::Notice`] for each kind of channel: the JSON body to send.
//!
//! Every text field of a notice except the links is untrusted (alarm names, titles built
//! from alarm data, reasons, command output), so each renderer escapes it for the markup
//! its channel parses, strips control characters and bounds it to the channel's limits
//! with a visible marker ([`sanitize_output`]). Escaping happens before bounding, so an
//! escape can never push a text past its limit; a cut may split an escape sequence, which
//! only ever leaves harmless literal text.
//!
//! The generic webhook body is a stable contract, version 1:
//!
//! ```json
//! { "quench_version": 1,
//!   "incident": { "id", "title", "impact", "plan", "status", "runbook",
//!                 "alarm": { "name", "region", "account", "namespace", "metric", "threshold" },
//!                 "opened_at", "resolved_at", "links": { "alarm", "incident" } },
//!   "event": { "key", "kind", "at", "summary" } }
//! ```
//!
//! Values are raw (JSON encoding is the only escaping a webhook needs); `runbook`,
//! `namespace`, `metric`, `threshold` and `resolved_at` may be `null`; `status` is
//! `OPEN`, `ACKNOWLEDGED` or `RESOLVED`; `kind` is a snake_case timeline kind; times are
//! RFC 3339 UTC. Only `title` and `summary` are bounded (and control characters dropped).

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::channels::ChannelKind;
use super::notice::Notice;
use crate::incident::record::{IncidentStatus, TimelineKind};
use crate::text::{kept, sanitize_output};

// The channels' limits. Slack and Teams count characters, Chime and Chatbot are not
// documented precisely; `sanitize_output` counts bytes, which is never fewer.
const SLACK_HEADER_LIMIT: u32 = 150;
/// Section text, and the `text` fallback (Slack truncates long ones anyway).
pub(super) const SLACK_TEXT_LIMIT: u32 = 3000;
const SLACK_FIELD_LIMIT: u32 = 2000;
/// One TextBlock: cards are capped at about 28 KB in all, and a few blocks this size stay
/// well inside.
const TEAMS_TEXT_LIMIT: u32 = 3000;
/// The whole `Content`.
const CHIME_LIMIT: u32 = 4096;
const CHATBOT_TITLE_LIMIT: u32 = 250;
const CHATBOT_DESCRIPTION_LIMIT: u32 = 8000;
const CHATBOT_SUMMARY_LIMIT: u32 = 250;
const WEBHOOK_TITLE_LIMIT: u32 = 1024;
const WEBHOOK_SUMMARY_LIMIT: u32 = 16 * 1024;
/// Titles and facts inside a longer text: alarm names run to 255 characters, and
/// escaping can double them.
const TITLE_LIMIT: u32 = 300;
const FACT_LIMIT: u32 = 600;

/// Breaks a broadcast mention without changing what people read.
const ZWJ: char = '\u{200D}';
/// Splits a sequence a parser would act on (a fence, a link) without changing what
/// people read.
const ZWSP: char = '\u{200B}';
/// Words that notify a whole channel after an `@`: Slack's, and Chime's `@All` and
/// `@Present`.
const BROADCASTS: [&str; 5] = ["here", "channel", "everyone", "all", "present"];
const MARKDOWN_META: &str = "\\`*_{}[]()#+-.!|<>~";

/// The JSON body to send for a channel of this kind. For `Slack` (the Web API) the caller
/// adds `channel` and `thread_ts`.
pub fn render(kind: ChannelKind, notice: &Notice) -> Value {
    let message = Message::of(notice);
    match kind {
        ChannelKind::Slack => slack(&message, true),
        ChannelKind::SlackWebhook => slack(&message, false),
        ChannelKind::Teams => teams(&message),
        ChannelKind::Chime => chime(&message),
        ChannelKind::Chatbot => chatbot(&message),
        ChannelKind::Webhook => webhook(notice),
    }
}

/// How long the incident lasted (so far, for an open one at the event's time).
fn lasted(notice: &Notice) -> String {
    let end = notice.resolved_at.unwrap_or(notice.event.at);
    duration_text(end - notice.opened_at)
}

/// How long something lasted, for people: the two largest units, `45s`, `12m 30s`,
/// `2h 5m`, `3d 4h`; a zero second unit is left out (`2h`). Negative spans read `0s`.
pub fn duration_text(duration: Duration) -> String {
    let secs = u64::try_from(duration.num_seconds()).unwrap_or(0);
    let (days, hours, minutes, seconds) =
        (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let (first, second) = if days > 0 {
        ((days, 'd'), (hours, 'h'))
    } else if hours > 0 {
        ((hours, 'h'), (minutes, 'm'))
    } else if minutes > 0 {
        ((minutes, 'm'), (seconds, 's'))
    } else {
        return format!("{seconds}s");
    };
    if second.0 == 0 {
        format!("{}{}", first.0, first.1)
    } else {
        format!("{}{} {}{}", first.0, first.1, second.0, second.1)
    }
}

/// Untrusted text for Slack mrkdwn (and plain_text, where Slack decodes the same
/// entities): `&`, `<` and `>` become entities, so `<!channel>`, `<@U123>` and
/// `<http://evil|click>` stay text. Broadcast words after `@` and markdown-style links
/// `[a](b)` (which newer Slack surfaces may parse) are split with zero-width characters,
/// and control characters are dropped.
pub fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in defang(text, Context::Slack).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Untrusted text for markdown (Chime, Teams TextBlocks, AWS Chatbot): every markdown
/// metacharacter is backslash-escaped, so `[click](http://evil)` is no link and `**x**`
/// no emphasis. Broadcast words after `@` and Slack-style `<@`, `<!`, `<#` are split with
/// zero-width characters; control characters are dropped.
pub fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for c in defang(text, Context::Markdown).chars() {
        if MARKDOWN_META.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Slack,
    Markdown,
    /// Inside a fenced code block, where escapes are not processed: fences, links and
    /// tags are split instead, in case a client's markdown is looser than CommonMark.
    Code,
}

fn defang(text: &str, context: Context) -> String {
    let chars: Vec<char> = text.chars().filter(|c| kept(*c)).collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        out.push(c);
        let next = chars.get(i + 1).copied();
        let split = match c {
            '@' if broadcast_follows(&chars[i + 1..]) => Some(ZWJ),
            ']' if next == Some('(') && context != Context::Markdown => Some(ZWSP),
            '`' if next == Some('`') && context == Context::Code => Some(ZWSP),
            '<' if context == Context::Code => Some(ZWSP),
            // Slack's `<@U…>`, `<!here>`, `<#C…>` stay split even where a markdown
            // escape is shown to a client that ignores backslashes.
            '<' if context == Context::Markdown && matches!(next, Some('@' | '!' | '#')) => {
                Some(ZWSP)
            }
            _ => None,
        };
        out.extend(split);
    }
    out
}

fn broadcast_follows(rest: &[char]) -> bool {
    BROADCASTS.iter().any(|word| {
        word.len() <= rest.len()
            && word
                .chars()
                .zip(rest)
                .all(|(w, r)| r.to_ascii_lowercase() == w)
    })
}

/// A fenced code block of at most `limit` bytes; `safe` is already escaped for the
/// channel.
pub(super) fn code_block(safe: &str, limit: u32) -> String {
    const FENCES: u32 = 8;
    let content = defang(safe, Context::Code);
    format!(
        "```\n{}\n```",
        sanitize_output(&content, limit.saturating_sub(FENCES))
    )
}

fn limit_left(limit: u32, used: usize) -> u32 {
    limit.saturating_sub(u32::try_from(used).unwrap_or(u32::MAX))
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The facts every channel shows for one notice, as raw text.
struct Message<'a> {
    notice: &'a Notice,
    icon: &'static str,
    label: &'static str,
    facts: Vec<(&'static str, String)>,
    /// What the summary is, when it needs saying.
    caption: Option<&'static str>,
    /// The summary is command output: shown as code.
    code: bool,
    next_steps: Vec<String>,
}

impl<'a> Message<'a> {
    fn of(notice: &'a Notice) -> Message<'a> {
        let kind = notice.event.kind;
        let (icon, label) = match kind {
            TimelineKind::Opened => ("🚨", "Incident opened"),
            TimelineKind::Reopened => ("🔁", "Incident reopened"),
            TimelineKind::Step => ("🔧", "Runbook step"),
            TimelineKind::Escalated => ("📣", "Escalated"),
            TimelineKind::Acknowledged => ("👀", "Acknowledged"),
            TimelineKind::Resolved => ("✅", "Incident resolved"),
            TimelineKind::Attached => ("🔗", "Alarm attached"),
            TimelineKind::Recovered => ("🟢", "Alarm recovered"),
            TimelineKind::ResolvePending => ("⏳", "Resolution pending"),
            TimelineKind::Paging => ("📟", "Paging"),
            TimelineKind::Paged => ("📟", "Paged"),
            // The notifier never sends these, but rendering stays total.
            TimelineKind::ChatFailed => ("⚠️", "Chat delivery failed"),
            TimelineKind::PageFailed => ("⚠️", "Page failed"),
        };
        let runbook = (
            "Runbook",
            notice
                .runbook
                .as_deref()
                .unwrap_or("no runbook")
                .to_string(),
        );
        let impact = ("Impact", notice.impact.to_string());
        let mut message = Message {
            notice,
            icon,
            label,
            facts: Vec::new(),
            caption: None,
            code: kind == TimelineKind::Step,
            next_steps: Vec::new(),
        };
        match kind {
            TimelineKind::Opened | TimelineKind::Reopened => {
                let metric = match (&notice.namespace, &notice.metric) {
                    (Some(namespace), Some(metric)) => Some(format!("{namespace}/{metric}")),
                    (None, Some(metric)) => Some(metric.clone()),
                    _ => None,
                };
                // The opening message is updated in place when the incident changes
                // (Slack `chat.update`), so it says where the incident stands now.
                let status = match notice.status {
                    IncidentStatus::Open => "open".to_string(),
                    IncidentStatus::Acknowledged => "acknowledged".to_string(),
                    IncidentStatus::Resolved => {
                        format!("resolved after {}", lasted(notice))
                    }
                };
                message.facts = vec![
                    ("Status", status),
                    impact,
                    ("Alarm", notice.alarm_name.clone()),
                ];
                message.facts.extend(metric.map(|m| ("Metric", m)));
                let threshold = notice.threshold.map(|t| ("Threshold", t.to_string()));
                message.facts.extend(threshold);
                let account = format!("{} ({})", notice.account, notice.region);
                message.facts.extend([runbook, ("Account", account)]);
                message.next_steps.push(match &notice.runbook {
                    Some(name) => format!("Runbook {name} runs now; its steps follow here"),
                    None => "No runbook: investigate the alarm".to_string(),
                });
            }
            TimelineKind::Step => message.facts = vec![runbook],
            TimelineKind::Escalated => {
                message.facts = vec![impact, runbook];
                message.caption = Some("Reason");
                let step = "Automation has handed over: investigate and acknowledge";
                message.next_steps.push(step.to_string());
            }
            TimelineKind::Resolved => {
                let duration = lasted(notice);
                message.facts = vec![("Duration", duration), impact];
            }
            TimelineKind::Paged => {
                message.facts = vec![impact];
                message.facts.extend(
                    notice
                        .event
                        .mention
                        .as_ref()
                        .map(|user| ("Contact", user.clone())),
                );
                let step = "Acknowledge to stop the escalation";
                message.next_steps.push(step.to_string());
            }
            TimelineKind::Attached
            | TimelineKind::Acknowledged
            | TimelineKind::Recovered
            | TimelineKind::ResolvePending
            | TimelineKind::Paging
            | TimelineKind::ChatFailed
            | TimelineKind::PageFailed => {}
        }
        message
    }

    fn summary(&self) -> Option<&str> {
        Some(self.notice.event.summary.as_str()).filter(|s| !s.trim().is_empty())
    }

    /// `🚨 Incident opened: <title>`, the title escaped and bounded.
    fn headline(&self, escape: fn(&str) -> String, limit: u32) -> String {
        let prefix = format!("{} {}: ", self.icon, self.label);
        let title = sanitize_output(&escape(&self.notice.title), limit_left(limit, prefix.len()));
        prefix + &title
    }

    fn footer(&self, escape: fn(&str) -> String) -> String {
        format!(
            "Incident {} · {}",
            escape(&self.notice.incident_id),
            escape(&when(self.notice.event.at))
        )
    }

    /// The summary as one markdown-ish block of at most `limit` bytes: an optional bold
    /// caption, then the text, or a code block for command output.
    fn body(&self, dialect: &Dialect, limit: u32) -> Option<String> {
        let summary = self.summary()?;
        let caption = self
            .caption
            .map(|c| format!("{b}{c}{b}\n", b = dialect.bold))
            .unwrap_or_default();
        let left = limit_left(limit, caption.len());
        let text = if self.code {
            code_block(&(dialect.code_escape)(summary), left)
        } else {
            sanitize_output(&(dialect.escape)(summary), left)
        };
        Some(caption + &text)
    }

    /// The facts as a markdown list, one per line wherever single newlines collapse.
    fn fact_list(&self, dialect: &Dialect) -> String {
        self.facts
            .iter()
            .map(|(name, value)| {
                let value = sanitize_output(&(dialect.escape)(value), FACT_LIMIT);
                format!("- {b}{name}:{b} {value}", b = dialect.bold)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Links as bare URLs: every client links them, and no `[text](url)` syntax is
    /// needed that untrusted text could imitate.
    fn links_and_footer(&self, escape: fn(&str) -> String) -> String {
        let links = &self.notice.links;
        format!(
            "- View alarm: {}\n- View incident: {}\n\n{}",
            links.alarm,
            links.incident,
            self.footer(escape)
        )
    }
}

/// The markup one channel parses.
struct Dialect {
    escape: fn(&str) -> String,
    /// Escapes text headed for a code block (fences are split afterwards).
    code_escape: fn(&str) -> String,
    bold: &'static str,
}

const SLACK: Dialect = Dialect {
    escape: slack_escape,
    code_escape: slack_escape,
    bold: "*",
};

const MARKDOWN: Dialect = Dialect {
    escape: markdown_escape,
    code_escape: str::to_string,
    bold: "**",
};

/// AWS Chatbot posts client-markdown as the target client's own markup (Slack mrkdwn
/// or Teams markdown), so text must be safe under both.
const CHATBOT: Dialect = Dialect {
    escape: chatbot_escape,
    code_escape: slack_escape,
    bold: "*",
};

fn chatbot_escape(text: &str) -> String {
    markdown_escape(&slack_escape(text))
}

fn slack_link(url: &str, text: &str) -> String {
    let url = url
        .replace('&', "&amp;")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace('|', "%7C");
    format!("<{url}|{text}>")
}

fn mrkdwn(text: String) -> Value {
    // verbatim: no automatic linking of URLs, channel names or mentions in our text.
    json!({ "type": "mrkdwn", "text": text, "verbatim": true })
}

/// `<@U…>` for a member id Slack would recognise; anything else is not mentioned (and
/// so cannot inject markup).
fn slack_mention(notice: &Notice) -> Option<String> {
    let user = notice.event.mention.as_deref()?;
    let valid = user.len() >= 3
        && user.len() <= 32
        && user.starts_with(['U', 'W'])
        && user
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    valid.then(|| format!("<@{user}>"))
}

fn slack(message: &Message, bot: bool) -> Value {
    let notice = message.notice;
    let headline = message.headline(slack_escape, SLACK_HEADER_LIMIT);
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": headline, "emoji": true },
    })];
    let mention = slack_mention(notice);
    if let Some(mention) = &mention {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!("{mention} you are paged") } }));
    }
    let fields: Vec<Value> = message
        .facts
        .iter()
        .map(|(name, value)| {
            let value = sanitize_output(
                &slack_escape(value),
                limit_left(SLACK_FIELD_LIMIT, name.len() + 3),
            );
            mrkdwn(format!("*{name}*\n{value}"))
        })
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    if let Some(body) = message.body(&SLACK, SLACK_TEXT_LIMIT) {
        blocks.push(json!({ "type": "section", "text": mrkdwn(body) }));
    }
    let links = format!(
        "{} · {}",
        slack_link(&notice.links.alarm, "View alarm"),
        slack_link(&notice.links.incident, "View incident")
    );
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(links), mrkdwn(message.footer(slack_escape))],
    }));
    // The fallback is what notifications show.
    let mut fallback = message.headline(slack_escape, TITLE_LIMIT);
    if let Some(mention) = mention {
        fallback = format!("{mention} {fallback}");
    }
    if let Some(summary) = message.summary() {
        fallback.push('\n');
        fallback.push_str(&slack_escape(summary));
    }
    let mut body = json!({
        "text": sanitize_output(&fallback, SLACK_TEXT_LIMIT),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    });
    if bot {
        body["link_names"] = json!(false);
    }
    body
}

/// Teams TextBlocks need a blank line for a line break.
fn teams_text(raw: &str) -> String {
    sanitize_output(
        &markdown_escape(raw).replace('\n', "\n\n"),
        TEAMS_TEXT_LIMIT,
    )
}

fn teams(message: &Message) -> Value {
    let notice = message.notice;
    let mut facts: Vec<Value> = message
        .facts
        .iter()
        .map(|(name, value)| json!({ "title": name, "value": sanitize_output(&markdown_escape(value), FACT_LIMIT) }))
        .collect();
    facts.push(json!({ "title": "Incident", "value": markdown_escape(&notice.incident_id) }));
    facts.push(json!({ "title": "At", "value": markdown_escape(&when(notice.event.at)) }));
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": message.headline(markdown_escape, TITLE_LIMIT),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": true,
        }),
        json!({ "type": "FactSet", "facts": facts }),
    ];
    if let Some(summary) = message.summary() {
        if let Some(caption) = message.caption {
            body.push(
                json!({ "type": "TextBlock", "text": caption, "weight": "Bolder", "wrap": true }),
            );
        }
        let mut block = json!({ "type": "TextBlock", "text": teams_text(summary), "wrap": true });
        if message.code {
            block["fontType"] = json!("Monospace");
        }
        body.push(block);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": { "width": "Full" },
                "body": body,
                "actions": [
                    { "type": "Action.OpenUrl", "title": "View alarm", "url": notice.links.alarm },
                    { "type": "Action.OpenUrl", "title": "View incident", "url": notice.links.incident },
                ],
            },
        }],
    })
}

/// A markdown document of at most `limit` bytes: `head`, the body in what is left, then
/// `tail`, separated by blank lines.
fn document(
    message: &Message,
    dialect: &Dialect,
    head: String,
    tail: String,
    limit: u32,
) -> String {
    let body = message
        .body(dialect, limit_left(limit, head.len() + tail.len() + 4))
        .unwrap_or_default();
    [head, body, tail]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn chime(message: &Message) -> Value {
    // Chime renders Content as markdown only behind this prefix.
    let mut head = format!("/md **{}**", message.headline(markdown_escape, TITLE_LIMIT));
    let facts = message.fact_list(&MARKDOWN);
    if !facts.is_empty() {
        head = format!("{head}\n\n{facts}");
    }
    let tail = message.links_and_footer(markdown_escape);
    json!({ "Content": document(message, &MARKDOWN, head, tail, CHIME_LIMIT) })
}

fn chatbot(message: &Message) -> Value {
    let notice = message.notice;
    let head = message.fact_list(&CHATBOT);
    let tail = message.links_and_footer(chatbot_escape);
    let mut content = json!({
        "textType": "client-markdown",
        "title": message.headline(chatbot_escape, CHATBOT_TITLE_LIMIT),
        "description": document(message, &CHATBOT, head, tail, CHATBOT_DESCRIPTION_LIMIT),
        "keywords": [
            sanitize_output(&slack_escape(&notice.plan), 64),
            format!("impact {}", notice.impact),
        ],
    });
    if !message.next_steps.is_empty() {
        let steps: Vec<String> = message
            .next_steps
            .iter()
            .map(|step| sanitize_output(&chatbot_escape(step), FACT_LIMIT))
            .collect();
        content["nextSteps"] = json!(steps);
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "id": format!("{}#{}", notice.incident_id, notice.event.key),
        "content": content,
        "metadata": {
            "threadId": notice.incident_id,
            "summary": message.headline(slack_escape, CHATBOT_SUMMARY_LIMIT),
            "eventType": notice.event.kind.as_str(),
            "relatedResources": [notice.links.alarm],
            "additionalContext": {
                "incident_id": notice.incident_id,
                "event_key": notice.event.key,
                "status": notice.status.as_str(),
                "impact": notice.impact.to_string(),
                "incident_link": notice.links.incident,
            },
        },
    })
}

fn webhook(notice: &Notice) -> Value {
    json!({
        "quench_version": 1,
        "incident": {
            "id": notice.incident_id,
            "title": sanitize_output(&notice.title, WEBHOOK_TITLE_LIMIT),
            "impact": notice.impact,
            "plan": notice.plan,
            "status": notice.status,
            "runbook": notice.runbook,
            "alarm": {
                "name": notice.alarm_name,
                "region": notice.region,
                "account": notice.account,
                "namespace": notice.namespace,
                "metric": notice.metric,
                "threshold": notice.threshold,
            },
            "opened_at": notice.opened_at,
            "resolved_at": notice.resolved_at,
            "links": notice.links,
        },
        "event": {
            "key": notice.event.key,
            "kind": notice.event.kind,
            "at": notice.event.at,
            "summary": sanitize_output(&notice.event.summary, WEBHOOK_SUMMARY_LIMIT),
        },
    })
}
