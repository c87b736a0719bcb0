//! Paging: contacts, escalation policies, and an incident's walk through its policy.
//!
//! The walk is pure. An escalation starts at stage 1 and pages its targets; each stage
//! waits its `timeout` for an acknowledgement, then the next stage is paged; after the
//! last stage the whole policy starts over, `repeat` more times, and then the policy is
//! exhausted. An acknowledgement stops the walk (a stage with `all_must_acknowledge`
//! needs every contact it paged). If the plan has an `acknowledge_timeout` and the
//! incident is still unresolved when it runs out, the acknowledgement expires and the
//! stage it was given in is paged again. Resolving stops everything: pages not yet sent
//! are cancelled when their time comes.
//!
//! Every time people are paged is a *wave*, numbered; a page's key is
//! (episode, wave, contact, channel), so a repeated decision writes the same pages and
//! the ticker that wins the conditional write on the incident is the only one that
//! creates them.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{field, valid_name, Config, ConfigError};
use crate::duration::Span;

/// A person who can be paged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// How pages address them; defaults to the contact's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Paged through the pages SNS topic (a subscription filtered on this contact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164 (`+4915112345678`); paged by SMS through SNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Paged in chat with a mention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatIdentity>,
    /// The engagement plan: which channel is used how long after the contact is
    /// paged. Default: every channel the contact has, at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engagement: Vec<Engagement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatIdentity {
    /// A channel from `chat.channels`.
    pub channel: String,
    /// The member id the channel mentions (Slack `U…`, a Teams UPN).
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Engagement {
    pub via: Via,
    /// How long after the contact is paged this channel is used.
    #[serde(default = "zero_span")]
    pub after: Span,
}

fn zero_span() -> Span {
    Span::ZERO
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Email,
    Sms,
    Chat,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Email => "email",
            Via::Sms => "sms",
            Via::Chat => "chat",
        }
    }
}

impl Contact {
    /// The channels this contact is paged on, with their delays.
    pub fn engagements(&self) -> Vec<Engagement> {
        if !self.engagement.is_empty() {
            return self.engagement.clone();
        }
        [
            (Via::Email, self.email.is_some()),
            (Via::Sms, self.phone.is_some()),
            (Via::Chat, self.chat.is_some()),
        ]
        .into_iter()
        .filter(|(_, has)| *has)
        .map(|(via, _)| Engagement {
            via,
            after: Span::ZERO,
        })
        .collect()
    }

    fn has(&self, via: Via) -> bool {
        match via {
            Via::Email => self.email.is_some(),
            Via::Sms => self.phone.is_some(),
            Via::Chat => self.chat.is_some(),
        }
    }
}

/// Who is paged, in what order, and how long each stage waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicy {
    pub stages: Vec<Stage>,
    /// How many more times the whole policy is walked after the first, if nobody
    /// acknowledges.
    #[serde(default)]
    pub repeat: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    // YAML would otherwise want `!contact` tags; a one-key map reads as in JSON.
    #[serde(with = "serde_yaml_ng::with::singleton_map_recursive")]
    #[schemars(with = "Vec<Target>")]
    pub targets: Vec<Target>,
    /// How long this stage waits for an acknowledgement before the next is paged.
    pub timeout: Span,
    /// Escalation stops only when every contact this stage paged has acknowledged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_must_acknowledge: bool,
}

/// Written `{ contact: NAME }`, `{ schedule: NAME }` or `{ policy: NAME }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Contact(String),
    /// Whoever the schedule has on call when the stage is paged.
    Schedule(String),
    /// Every target of that policy's first stage (another team's front line).
    Policy(String),
}

/// Checks contacts and policies against each other and the rest of the config.
pub(crate) fn validate(config: &Config, errors: &mut Vec<ConfigError>) {
    for (name, contact) in &config.contacts {
        let at = format!("contacts.{name}");
        if !valid_name(name) {
            errors.push(field(
                &at,
                "contact names use letters, digits, `-` and `_` only (at most 64)",
            ));
        }
        if let Some(email) = &contact.email {
            let valid = email
                .split_once('@')
                .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
                && !email.chars().any(char::is_whitespace);
            if !valid {
                errors.push(field(
                    format!("{at}.email"),
                    format!("`{email}` is not an email address"),
                ));
            }
        }
        if let Some(phone) = &contact.phone {
            let digits = phone.strip_prefix('+').unwrap_or("");
            if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                errors.push(field(
                    format!("{at}.phone"),
                    format!("`{phone}` is not an E.164 number like +4915112345678"),
                ));
            }
        }
        if let Some(chat) = &contact.chat {
            if !config.chat.channels.contains_key(&chat.channel) {
                errors.push(field(
                    format!("{at}.chat.channel"),
                    format!("no chat channel is named `{}`", chat.channel),
                ));
            }
            if chat.user.trim().is_empty() {
                errors.push(field(format!("{at}.chat.user"), "empty"));
            }
        }
        for (index, engagement) in contact.engagement.iter().enumerate() {
            if !contact.has(engagement.via) {
                errors.push(field(
                    format!("{at}.engagement[{index}].via"),
                    format!(
                        "`{}` needs the contact's {}",
                        engagement.via.as_str(),
                        match engagement.via {
                            Via::Email => "`email`",
                            Via::Sms => "`phone`",
                            Via::Chat => "`chat`",
                        }
                    ),
                ));
            }
        }
        if contact.engagements().is_empty() {
            errors.push(field(
                &at,
                "give an `email`, a `phone` or a `chat` identity to page",
            ));
        }
    }
    for (name, policy) in &config.escalation_policies {
        let at = format!("escalation_policies.{name}");
        if !valid_name(name) {
            errors.push(field(
                &at,
                "policy names use letters, digits, `-` and `_` only (at most 64)",
            ));
        }
        if policy.stages.is_empty() {
            errors.push(field(
                format!("{at}.stages"),
                "at least one stage is needed",
            ));
        }
        for (index, stage) in policy.stages.iter().enumerate() {
            let at = format!("{at}.stages[{index}]");
            if stage.targets.is_empty() {
                errors.push(field(
                    format!("{at}.targets"),
                    "at least one target is needed",
                ));
            }
            if stage.timeout == Span::ZERO {
                errors.push(field(
                    format!("{at}.timeout"),
                    "a stage must wait for an acknowledgement; give it a timeout above 0s",
                ));
            }
            for (t, target) in stage.targets.iter().enumerate() {
                let (kind, exists) = match target {
                    Target::Contact(n) => ("contact", config.contacts.contains_key(n)),
                    Target::Schedule(n) => ("schedule", config.schedules.contains_key(n)),
                    Target::Policy(n) => ("escalation policy", {
                        config.escalation_policies.contains_key(n)
                    }),
                };
                if !exists {
                    errors.push(field(
                        format!("{at}.targets[{t}]"),
                        format!("no {kind} is named `{}`", target_name(target)),
                    ));
                }
            }
        }
        if let Some(cycle) = policy_cycle(config, name) {
            errors.push(field(
                &at,
                format!(
                    "policies reference each other in a cycle: {}",
                    cycle.join(" -> ")
                ),
            ));
        }
    }
    for (name, plan) in &config.plans {
        let at = format!("plans.{name}");
        if let Some(policy) = &plan.escalation {
            if !config.escalation_policies.contains_key(policy) {
                errors.push(field(
                    format!("{at}.escalation"),
                    format!("no escalation policy is named `{policy}`"),
                ));
            }
        }
        if plan.acknowledge_timeout.is_some() && plan.escalation.is_none() {
            errors.push(field(
                format!("{at}.acknowledge_timeout"),
                "re-paging needs someone to page: name an `escalation` policy",
            ));
        }
        if plan.acknowledge_timeout == Some(Span::ZERO) {
            errors.push(field(
                format!("{at}.acknowledge_timeout"),
                "must be above 0s",
            ));
        }
        if plan.stale_after == Some(Span::ZERO) {
            errors.push(field(format!("{at}.stale_after"), "must be above 0s"));
        }
    }
}

fn target_name(target: &Target) -> &str {
    match target {
        Target::Contact(n) | Target::Schedule(n) | Target::Policy(n) => n,
    }
}

/// The first cycle of policy references that starts at `start`, if any.
fn policy_cycle(config: &Config, start: &str) -> Option<Vec<String>> {
    fn walk(config: &Config, name: &str, path: &mut Vec<String>, start: &str) -> bool {
        let Some(policy) = config.escalation_policies.get(name) else {
            return false;
        };
        let Some(first) = policy.stages.first() else {
            return false;
        };
        for target in &first.targets {
            if let Target::Policy(next) = target {
                path.push(next.clone());
                if next == start {
                    return true;
                }
                if !path[..path.len() - 1].contains(next) && walk(config, next, path, start) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(config, start, &mut path, start).then_some(path)
}

/// The contacts a stage pages at `at`, in target order, each once.
pub fn stage_contacts(config: &Config, stage: &Stage, at: DateTime<Utc>) -> Vec<String> {
    let mut contacts = Vec::new();
    expand(
        config,
        &stage.targets,
        at,
        &mut contacts,
        &mut BTreeSet::new(),
    );
    contacts
}

fn expand(
    config: &Config,
    targets: &[Target],
    at: DateTime<Utc>,
    out: &mut Vec<String>,
    seen_policies: &mut BTreeSet<String>,
) {
    let push = |name: String, out: &mut Vec<String>| {
        if !out.contains(&name) {
            out.push(name);
        }
    };
    for target in targets {
        match target {
            Target::Contact(name) => push(name.clone(), out),
            Target::Schedule(name) => {
                if let Some(schedule) = config.schedules.get(name) {
                    for person in schedule.on_call(at) {
                        push(person, out);
                    }
                }
            }
            Target::Policy(name) => {
                // Validation refuses cycles; this keeps a bad config from looping anyway.
                if seen_policies.insert(name.clone()) {
                    if let Some(first) = config
                        .escalation_policies
                        .get(name)
                        .and_then(|p| p.stages.first())
                    {
                        expand(config, &first.targets, at, out, seen_policies);
                    }
                }
            }
        }
    }
}

/// Where an incident is in its policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paging {
    pub policy: String,
    /// 0 on the first walk through the stages, up to the policy's `repeat`.
    pub round: u32,
    /// 0-based index of the current stage.
    pub stage: u32,
    /// How many times people were paged for this incident episode; part of each page's
    /// key.
    pub wave: u32,
    pub wave_started_at: DateTime<Utc>,
    /// The contacts the current wave paged.
    pub engaged: Vec<String>,
    /// Who acknowledged during the current wave.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub acknowledged_by: BTreeSet<String>,
    pub state: PagingState,
    /// When the ticker acts next: the next stage, or a re-page after the acknowledgement
    /// timeout. `None`: nothing more to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PagingState {
    /// Waiting for an acknowledgement; the next stage is paged at `next_at`.
    Waiting,
    /// Acknowledged; paged again at `next_at` if the plan has an acknowledgement timeout.
    Acknowledged,
    /// Every stage was paged every round and nobody acknowledged.
    Exhausted,
    /// The incident was resolved.
    Stopped,
}

/// One channel of one contact in one wave. Written with the decision that paged them,
/// sent by the ticker when due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub incident_id: String,
    /// The incident's reopen count: a reopened incident pages afresh.
    pub episode: u32,
    pub wave: u32,
    pub round: u32,
    pub stage: u32,
    pub contact: String,
    pub via: Via,
    pub due_at: DateTime<Utc>,
    pub state: PageState,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the current state was entered: the claim time while `sending`.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageState {
    Pending,
    Sending,
    Sent,
    /// The incident was acknowledged, resolved or moved on before this page was due.
    Cancelled,
    /// Every attempt failed.
    Failed,
}

impl PageState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
}

impl Page {
    /// Unique per incident: the same page decided twice is the same item.
    pub fn key(&self) -> String {
        format!(
            "{:02}#{:04}#{}#{}",
            self.episode,
            self.wave,
            self.contact,
            self.via.as_str()
        )
    }
}

/// How many times a page is tried before it is given up as failed; one try per tick.
pub const MAX_PAGE_ATTEMPTS: u32 = 5;

/// When a failed page is tried again: the next tick, then backing off to 8 minutes.
pub fn page_retry_at(page: &Page, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (page.attempts < MAX_PAGE_ATTEMPTS)
        .then(|| now + chrono::Duration::minutes(1_i64 << page.attempts.saturating_sub(1).min(3)))
}

/// Pages the policy's stage `paging.stage` of round `paging.round` as a new wave.
/// Returns the pages to write (each due after its contact's engagement delay).
pub fn page_wave(
    config: &Config,
    paging: &mut Paging,
    incident_id: &str,
    episode: u32,
    now: DateTime<Utc>,
) -> Vec<Page> {
    let Some(stage) = config
        .escalation_policies
        .get(&paging.policy)
        .and_then(|p| p.stages.get(paging.stage as usize))
    else {
        paging.state = PagingState::Exhausted;
        paging.next_at = None;
        return Vec::new();
    };
    paging.wave += 1;
    paging.wave_started_at = now;
    paging.acknowledged_by.clear();
    paging.engaged = stage_contacts(config, stage, now);
    paging.state = PagingState::Waiting;
    paging.next_at = Some(now + stage.timeout.to_chrono());
    let mut pages = Vec::new();
    for name in &paging.engaged {
        let Some(contact) = config.contacts.get(name) else {
            continue;
        };
        for engagement in contact.engagements() {
            pages.push(Page {
                incident_id: incident_id.to_string(),
                episode,
                wave: paging.wave,
                round: paging.round,
                stage: paging.stage,
                contact: name.clone(),
                via: engagement.via,
                due_at: now + engagement.after.to_chrono(),
                state: PageState::Pending,
                attempts: 0,
                last_error: None,
                at: now,
            });
        }
    }
    pages
}

/// Starts the walk at stage 1 of `policy`.
pub fn start(
    config: &Config,
    policy: &str,
    incident_id: &str,
    episode: u32,
    now: DateTime<Utc>,
) -> (Paging, Vec<Page>) {
    let mut paging = at_stage_one(policy, now);
    let pages = page_wave(config, &mut paging, incident_id, episode, now);
    (paging, pages)
}

/// A walk that starts acknowledged (the incident was acknowledged before it escalated):
/// nothing is paged, and stage 1 is paged at `repage_at`, if any.
pub fn acknowledged(policy: &str, repage_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Paging {
    Paging {
        state: PagingState::Acknowledged,
        next_at: repage_at,
        ..at_stage_one(policy, now)
    }
}

/// A walk at stage 1 of round 1 that has paged nobody yet.
fn at_stage_one(policy: &str, now: DateTime<Utc>) -> Paging {
    Paging {
        policy: policy.to_string(),
        round: 0,
        stage: 0,
        wave: 0,
        wave_started_at: now,
        engaged: Vec::new(),
        acknowledged_by: BTreeSet::new(),
        state: PagingState::Waiting,
        next_at: None,
    }
}

/// What the ticker does when `paging.next_at` has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    /// The next stage (or the first again, on a repeat) was paged.
    NextStage,
    /// The acknowledgement ran out; the same stage was paged again.
    Repaged,
    /// The last stage of the last round timed out.
    Exhausted,
}

/// Moves the walk on once `next_at` has passed. `None`: nothing is due.
pub fn advance(
    config: &Config,
    paging: &mut Paging,
    incident_id: &str,
    episode: u32,
    now: DateTime<Utc>,
) -> Option<(Advance, Vec<Page>)> {
    if paging.next_at.is_none_or(|due| due > now) {
        return None;
    }
    let policy = config.escalation_policies.get(&paging.policy)?;
    match paging.state {
        PagingState::Acknowledged => {
            let pages = page_wave(config, paging, incident_id, episode, now);
            Some((Advance::Repaged, pages))
        }
        PagingState::Waiting => {
            let last_stage = policy.stages.len().saturating_sub(1) as u32;
            if paging.stage < last_stage {
                paging.stage += 1;
            } else if paging.round < policy.repeat {
                paging.round += 1;
                paging.stage = 0;
            } else {
                paging.state = PagingState::Exhausted;
                paging.next_at = None;
                return Some((Advance::Exhausted, Vec::new()));
            }
            let pages = page_wave(config, paging, incident_id, episode, now);
            Some((Advance::NextStage, pages))
        }
        PagingState::Exhausted | PagingState::Stopped => {
            paging.next_at = None;
            None
        }
    }
}

/// How an acknowledgement by `by` changes the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckEffect {
    /// Escalation stops (until the acknowledgement timeout, if the plan has one).
    Stopped,
    /// The stage needs everyone it paged; these many still have to acknowledge.
    Waiting { missing: usize },
}

pub fn acknowledge(
    config: &Config,
    paging: &mut Paging,
    by: &str,
    acknowledge_timeout: Option<Span>,
    now: DateTime<Utc>,
) -> AckEffect {
    let needs_everyone = config
        .escalation_policies
        .get(&paging.policy)
        .and_then(|p| p.stages.get(paging.stage as usize))
        .is_some_and(|s| s.all_must_acknowledge);
    paging.acknowledged_by.insert(by.to_string());
    if needs_everyone && paging.state == PagingState::Waiting {
        let missing = paging
            .engaged
            .iter()
            .filter(|c| !paging.acknowledged_by.contains(*c))
            .count();
        if missing > 0 {
            return AckEffect::Waiting { missing };
        }
    }
    paging.state = PagingState::Acknowledged;
    paging.next_at = acknowledge_timeout.map(|t| now + t.to_chrono());
    AckEffect::Stopped
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn config(policies: &str) -> Config {
        let text = format!(
            r#"
version: 1
plans:
  p: {{ impact: 2, escalation: front, acknowledge_timeout: 30m }}
contacts:
  alice: {{ email: alice@example.com, phone: "+4915112345678", engagement: [{{ via: email }}, {{ via: sms, after: 5m }}] }}
  bob: {{ email: bob@example.com }}
  carol: {{ phone: "+4915100000000" }}
escalation_policies:
{policies}
"#
        );
        match Config::parse(&text) {
            Ok(config) => config,
            Err(e) => panic!("test config: {e}"),
        }
    }

    const TWO_STAGES: &str = r#"
  front:
    repeat: 1
    stages:
      - { targets: [{ contact: alice }], timeout: 10m }
      - { targets: [{ contact: bob }, { contact: carol }], timeout: 15m, all_must_acknowledge: true }
"#;

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
    }

    #[test]
    fn an_unacknowledged_walk_visits_every_stage_each_round_then_stops() {
        let config = config(TWO_STAGES);
        let (mut paging, pages) = start(&config, "front", "inc-1", 0, t(0));
        let first: Vec<_> = pages
            .iter()
            .map(|p| (p.contact.as_str(), p.via, p.due_at))
            .collect();
        assert_eq!(
            first,
            vec![("alice", Via::Email, t(0)), ("alice", Via::Sms, t(5))]
        );
        assert_eq!(paging.next_at, Some(t(10)));
        assert_eq!(advance(&config, &mut paging, "inc-1", 0, t(9)), None);
        let mut visited = vec![(paging.round, paging.stage, paging.engaged.clone())];
        let mut now = t(10);
        loop {
            match advance(&config, &mut paging, "inc-1", 0, now) {
                Some((Advance::NextStage, pages)) => {
                    assert!(pages.iter().all(|p| p.wave == paging.wave));
                    visited.push((paging.round, paging.stage, paging.engaged.clone()));
                }
                Some((Advance::Exhausted, pages)) => {
                    assert!(pages.is_empty());
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
            now = paging.next_at.unwrap_or(now);
        }
        let alice = vec!["alice".to_string()];
        let bob_carol = vec!["bob".to_string(), "carol".to_string()];
        assert_eq!(
            visited,
            vec![
                (0, 0, alice.clone()),
                (0, 1, bob_carol.clone()),
                (1, 0, alice),
                (1, 1, bob_carol)
            ]
        );
        assert_eq!(paging.state, PagingState::Exhausted);
        assert_eq!(paging.next_at, None);
        assert_eq!(paging.wave, 4);
    }

    #[test]
    fn an_acknowledgement_stops_the_walk_until_its_timeout_repages_the_same_stage() {
        let config = config(TWO_STAGES);
        let (mut paging, _) = start(&config, "front", "inc-1", 0, t(0));
        assert_eq!(
            acknowledge(
                &config,
                &mut paging,
                "alice",
                Some(Span::from_secs(1800)),
                t(3)
            ),
            AckEffect::Stopped
        );
        assert_eq!(paging.next_at, Some(t(33)));
        assert_eq!(advance(&config, &mut paging, "inc-1", 0, t(20)), None);
        let (effect, pages) = advance(&config, &mut paging, "inc-1", 0, t(33)).unwrap();
        assert_eq!(effect, Advance::Repaged);
        assert_eq!((paging.stage, paging.wave), (0, 2));
        assert!(pages.iter().all(|p| p.contact == "alice" && p.wave == 2));
    }

    #[test]
    fn a_stage_where_everyone_must_acknowledge_waits_for_the_last_one() {
        let config = config(TWO_STAGES);
        let (mut paging, _) = start(&config, "front", "inc-1", 0, t(0));
        advance(&config, &mut paging, "inc-1", 0, t(10)).unwrap();
        assert_eq!(
            acknowledge(&config, &mut paging, "bob", None, t(11)),
            AckEffect::Waiting { missing: 1 }
        );
        assert_eq!(paging.next_at, Some(t(25)));
        assert_eq!(
            acknowledge(&config, &mut paging, "carol", None, t(12)),
            AckEffect::Stopped
        );
        assert_eq!(paging.next_at, None);
        assert_eq!(advance(&config, &mut paging, "inc-1", 0, t(60)), None);
    }

    #[test]
    fn schedules_and_other_policies_expand_to_contacts_once() {
        let config = config(
            r#"
  front:
    stages:
      - { targets: [{ contact: bob }, { policy: db }], timeout: 10m }
  db:
    stages:
      - { targets: [{ contact: carol }, { contact: bob }], timeout: 5m }
"#,
        );
        let (paging, _) = start(&config, "front", "inc-1", 0, t(0));
        assert_eq!(paging.engaged, vec!["bob".to_string(), "carol".to_string()]);
    }

    fn invalid(policies: &str) -> String {
        let text = format!(
            r#"
version: 1
plans:
  p: {{ impact: 2, escalation: front }}
contacts:
  alice: {{ email: alice@example.com }}
escalation_policies:
{policies}
"#
        );
        match Config::parse(&text) {
            Ok(_) => panic!("accepted:\n{policies}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_policies_are_refused_with_the_field_named() {
        let unknown =
            invalid("  front: { stages: [{ targets: [{ contact: mallory }], timeout: 5m }] }");
        assert!(
            unknown.contains("escalation_policies.front.stages[0].targets[0]")
                && unknown.contains("no contact is named `mallory`"),
            "{unknown}"
        );
        let cycle = invalid(
            r#"
  front: { stages: [{ targets: [{ policy: back }], timeout: 5m }] }
  back: { stages: [{ targets: [{ policy: front }], timeout: 5m }] }
"#,
        );
        assert!(cycle.contains("cycle: front -> back -> front"), "{cycle}");
        let no_stages = invalid("  front: { stages: [] }");
        assert!(no_stages.contains("at least one stage"), "{no_stages}");
        let no_wait =
            invalid("  front: { stages: [{ targets: [{ contact: alice }], timeout: 0s }] }");
        assert!(no_wait.contains("timeout above 0s"), "{no_wait}");
    }

    #[test]
    fn bad_schedules_are_refused_through_the_config() {
        let text = r#"
version: 1
plans: { p: { impact: 2 } }
contacts:
  alice: { email: alice@example.com }
schedules:
  office:
    time_zone: Europe/Berlin
    rotations:
      - name: days
        members: [alice]
        every: daily
        start: 2026-01-05T09:00
        restrictions: [{ days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00" }]
  empty:
    time_zone: Europe/Berlin
    rotations: [{ name: nobody, members: [], every: weekly, start: 2026-01-05T09:00 }]
  ghosts:
    time_zone: Mars/Olympus
    rotations: [{ name: x, members: [alice], every: daily, start: 2026-01-05T09:00 }]
"#;
        let error = Config::parse(text).map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("Mars/Olympus"), "{error}");
        let text = text.replace("Mars/Olympus", "Europe/Berlin");
        let error = Config::parse(&text).map(|_| ()).unwrap_err().to_string();
        assert!(
            error.contains("schedules.office") && error.contains("nobody is on call"),
            "{error}"
        );
        assert!(
            error.contains("schedules.empty.rotations[0].members"),
            "{error}"
        );
    }

    proptest::proptest! {
        /// However irregular the ticks, each wave pages the next (round, stage) in
        /// policy order, none twice, and the walk ends exhausted after every stage of
        /// every round was paged once.
        #[test]
        fn ticks_at_any_times_walk_the_policy_in_order(gaps in proptest::collection::vec(0_i64..40, 1..60)) {
            let config = config(TWO_STAGES);
            let (mut paging, _) = start(&config, "front", "inc-1", 0, t(0));
            let mut walked = vec![(paging.round, paging.stage)];
            let mut now = t(0);
            for gap in gaps {
                now += chrono::Duration::minutes(gap);
                if let Some((Advance::NextStage, pages)) = advance(&config, &mut paging, "inc-1", 0, now) {
                    proptest::prop_assert!(pages.iter().all(|p| (p.round, p.stage) == (paging.round, paging.stage)));
                    walked.push((paging.round, paging.stage));
                }
            }
            let order = [(0, 0), (0, 1), (1, 0), (1, 1)];
            proptest::prop_assert_eq!(&walked[..], &order[..walked.len()]);
            proptest::prop_assert_eq!(paging.state == PagingState::Exhausted, paging.next_at.is_none());
            proptest::prop_assert_eq!(paging.wave as usize, walked.len());
        }
    }

    #[test]
    fn contacts_need_a_way_to_be_paged() {
        let text = r#"
version: 1
plans: { p: { impact: 2 } }
contacts:
  ghost: {}
  typo: { email: "not-an-address", phone: "015112345678" }
  nochat: { email: a@example.com, engagement: [{ via: chat }] }
"#;
        let error = Config::parse(text).map(|_| ()).unwrap_err().to_string();
        for expected in [
            "contacts.ghost",
            "contacts.typo.email",
            "contacts.typo.phone",
            "contacts.nochat.engagement[0].via",
        ] {
            assert!(error.contains(expected), "{expected} missing from {error}");
        }
    }

    #[test]
    fn failed_pages_back_off_then_give_up() {
        let config = config(TWO_STAGES);
        let (_, pages) = start(&config, "front", "inc-1", 0, t(0));
        let mut page = pages[0].clone();
        let mut delays = Vec::new();
        loop {
            page.attempts += 1;
            match page_retry_at(&page, t(0)) {
                Some(at) => delays.push((at - t(0)).num_minutes()),
                None => break,
            }
        }
        assert_eq!(delays, vec![1, 2, 4, 8]);
        assert_eq!(page.attempts, MAX_PAGE_ATTEMPTS);
    }
}
