//! The paging sections of the config: contacts (`contacts.<name>`), how each is
//! engaged, and escalation policies (`escalation_policies.<name>`), with their checks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::vocabulary::{Names, Problems, Validate};
use crate::duration::{Span, DAY_SECS};

/// The longest a stage waits for an acknowledgement: a stage that lets a day pass is
/// not escalating.
pub const MAX_STAGE_TIMEOUT: Span = Span::from_secs(DAY_SECS);
/// The longest a channel of a contact waits after they are paged.
pub const MAX_ENGAGEMENT_DELAY: Span = Span::from_secs(DAY_SECS);

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

/// A contact's addresses, and that each way of engaging it has its address.
impl Validate for Contact {
    fn validate(&self, at: &str, names: &Names<'_>, problems: &mut Problems) {
        if let Some(email) = &self.email {
            let valid = email
                .split_once('@')
                .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
                && !email.chars().any(char::is_whitespace);
            if !valid {
                problems.add(
                    format!("{at}.email"),
                    format!("`{email}` is not an email address"),
                );
            }
        }
        if let Some(phone) = &self.phone {
            let digits = phone.strip_prefix('+').unwrap_or("");
            if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                problems.add(
                    format!("{at}.phone"),
                    format!("`{phone}` is not an E.164 number like +4915112345678"),
                );
            }
        }
        if let Some(chat) = &self.chat {
            if !names.channels.contains(chat.channel.as_str()) {
                problems.add(
                    format!("{at}.chat.channel"),
                    format!("no chat channel is named `{}`", chat.channel),
                );
            }
            if chat.user.trim().is_empty() {
                problems.add(format!("{at}.chat.user"), "empty");
            }
        }
        for (index, engagement) in self.engagement.iter().enumerate() {
            // A page's key is (wave, contact, channel): a channel engaged twice would
            // write two items with one key in one transaction, which DynamoDB refuses.
            if let Some(first) = self.engagement[..index]
                .iter()
                .position(|e| e.via == engagement.via)
            {
                problems.add(
                    format!("{at}.engagement[{index}].via"),
                    format!(
                        "`{}` is already engaged by engagement[{first}]; a contact is paged once per channel",
                        engagement.via.as_str()
                    ),
                );
            }
            problems.check_at_most(
                format!("{at}.engagement[{index}].after"),
                engagement.after,
                MAX_ENGAGEMENT_DELAY,
            );
            if !self.has(engagement.via) {
                problems.add(
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
                );
            }
        }
        if self.engagements().is_empty() {
            problems.add(
                at,
                "give an `email`, a `phone` or a `chat` identity to page",
            );
        }
    }
}

/// A policy's stages, their targets, and that policies never hand over in a circle.
impl Validate for EscalationPolicy {
    fn validate(&self, at: &str, names: &Names<'_>, problems: &mut Problems) {
        let name = at.rsplit_once('.').map_or(at, |(_, name)| name);
        if self.stages.is_empty() {
            problems.add(format!("{at}.stages"), "at least one stage is needed");
        }
        for (index, stage) in self.stages.iter().enumerate() {
            let at = format!("{at}.stages[{index}]");
            if stage.targets.is_empty() {
                problems.add(format!("{at}.targets"), "at least one target is needed");
            }
            if stage.timeout == Span::ZERO {
                problems.add(
                    format!("{at}.timeout"),
                    "a stage must wait for an acknowledgement; give it a timeout above 0s",
                );
            }
            problems.check_at_most(format!("{at}.timeout"), stage.timeout, MAX_STAGE_TIMEOUT);
            for (t, target) in stage.targets.iter().enumerate() {
                let (kind, exists) = match target {
                    Target::Contact(n) => ("contact", names.contacts.contains(n.as_str())),
                    Target::Schedule(n) => ("schedule", names.schedules.contains(n.as_str())),
                    Target::Policy(n) => ("escalation policy", {
                        names.policies.contains_key(n.as_str())
                    }),
                };
                if !exists {
                    problems.add(
                        format!("{at}.targets[{t}]"),
                        format!("no {kind} is named `{}`", target_name(target)),
                    );
                }
            }
        }
        if let Some(cycle) = policy_cycle(names, name) {
            problems.add(
                at,
                format!(
                    "policies reference each other in a cycle: {}",
                    cycle.join(" -> ")
                ),
            );
        }
    }
}

fn target_name(target: &Target) -> &str {
    match target {
        Target::Contact(n) | Target::Schedule(n) | Target::Policy(n) => n,
    }
}

/// The first cycle of policy references that starts at `start`, if any: `names.policies`
/// holds the policies each policy's first stage hands over to.
fn policy_cycle(names: &Names<'_>, start: &str) -> Option<Vec<String>> {
    fn walk(names: &Names<'_>, name: &str, path: &mut Vec<String>, start: &str) -> bool {
        let Some(next_policies) = names.policies.get(name) else {
            return false;
        };
        for next in next_policies {
            path.push((*next).to_string());
            if *next == start {
                return true;
            }
            if !path[..path.len() - 1].iter().any(|p| p == next) && walk(names, next, path, start) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(names, start, &mut path, start).then_some(path)
}

impl EscalationPolicy {
    /// The policies this policy's first stage hands over to.
    pub fn first_stage_policies(&self) -> impl Iterator<Item = &str> {
        self.stages.first().into_iter().flat_map(|stage| {
            stage.targets.iter().filter_map(|target| match target {
                Target::Policy(next) => Some(next.as_str()),
                _ => None,
            })
        })
    }
}
