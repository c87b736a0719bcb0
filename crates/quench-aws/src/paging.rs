//! The ticker's calls out: pages by email (the pages SNS topic, one subscription per
//! contact filtered on the `contact` attribute) and SMS (SNS direct publish), and the
//! alarm states a recovery check reads.

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use aws_sdk_sns::types::MessageAttributeValue;
use chrono::{DateTime, Utc};
use quench_core::alarm::AlarmState;
use quench_core::incident::AlarmReading;
pub use quench_core::ports::PageError;
use quench_core::ports::{AlarmReader, PageSender};

use crate::actions::classify;

/// The message attribute naming who a page is for; each email subscription's filter
/// policy matches on it.
const CONTACT_ATTRIBUTE: &str = "contact";

/// SNS refuses a Subject of 100 characters or more.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// Where a subject was cut; plain ASCII, as everything in a subject must be.
const SUBJECT_CUT: &str = "...";

/// What an email page's subject says when nothing of the given one is printable.
const BLANK_SUBJECT: &str = "[Quench] page";

/// `text` as a Subject SNS accepts: printable ASCII beginning with a letter, number or
/// punctuation mark, no line breaks or control characters, fewer than 100 characters.
/// Line breaks, tabs and control characters become single spaces, other non-ASCII
/// characters `?`, and a longer text is cut to [`MAX_SUBJECT_CHARS`] ending in `...`.
/// The page's body carries the whole title; the subject only has to get delivered.
pub fn email_subject(text: &str) -> String {
    let mut clean = String::with_capacity(text.len().min(4 * MAX_SUBJECT_CHARS));
    for c in text.chars() {
        let c = match c {
            c if c.is_ascii_graphic() => c,
            c if c.is_whitespace() || c.is_control() => ' ',
            _ => '?',
        };
        // Leading blanks are refused, and runs of them would only eat the budget.
        if c == ' ' && (clean.is_empty() || clean.ends_with(' ')) {
            continue;
        }
        clean.push(c);
        if clean.len() > MAX_SUBJECT_CHARS {
            break;
        }
    }
    let clean = clean.trim_end();
    if clean.is_empty() {
        return BLANK_SUBJECT.to_string();
    }
    if clean.len() <= MAX_SUBJECT_CHARS {
        return clean.to_string();
    }
    // Every character is ASCII by now, so any byte index is a character boundary.
    let kept = clean[..MAX_SUBJECT_CHARS - SUBJECT_CUT.len()].trim_end();
    format!("{kept}{SUBJECT_CUT}")
}

#[derive(Debug, Clone)]
pub struct Pager {
    sns: aws_sdk_sns::Client,
    /// The pages topic; `None` refuses email pages with a clear error.
    topic_arn: Option<String>,
}

fn attribute(value: &str) -> Result<MessageAttributeValue, PageError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| PageError(e.to_string()))
}

impl Pager {
    pub fn new(sns: aws_sdk_sns::Client, topic_arn: Option<String>) -> Self {
        Pager { sns, topic_arn }
    }
}

impl PageSender for Pager {
    /// Publishes to the pages topic; the contact's email subscription's filter policy
    /// (`{"contact": [NAME]}`) delivers it to them alone. The subject is made one SNS
    /// accepts ([`email_subject`]): a long or odd title must not stop the page.
    async fn email(&self, contact: &str, subject: &str, body: &str) -> Result<String, PageError> {
        let topic = self
            .topic_arn
            .as_deref()
            .ok_or_else(|| PageError("no pages topic configured (QUENCH_PAGES_TOPIC)".into()))?;
        let output = self
            .sns
            .publish()
            .topic_arn(topic)
            .subject(email_subject(subject))
            .message(body)
            .message_attributes(CONTACT_ATTRIBUTE, attribute(contact)?)
            .message_attributes("via", attribute("email")?)
            .send()
            .await
            .map_err(|e| PageError(classify("Publish", e).to_string()))?;
        Ok(output.message_id.unwrap_or_default())
    }

    /// Transactional, so it is not dropped as marketing.
    async fn sms(&self, phone: &str, body: &str) -> Result<String, PageError> {
        let output = self
            .sns
            .publish()
            .phone_number(phone)
            .message(body)
            .message_attributes("AWS.SNS.SMS.SMSType", attribute("Transactional")?)
            .send()
            .await
            .map_err(|e| PageError(classify("Publish", e).to_string()))?;
        Ok(output.message_id.unwrap_or_default())
    }
}

/// Alarm states for the ticker's recovery checks, by DescribeAlarms.
#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    cloudwatch: aws_sdk_cloudwatch::Client,
}

impl CloudWatchAlarms {
    pub fn new(cloudwatch: aws_sdk_cloudwatch::Client) -> Self {
        CloudWatchAlarms { cloudwatch }
    }
}

impl AlarmReader for CloudWatchAlarms {
    /// One DescribeAlarms call per 100 names.
    async fn readings(&self, names: &[String]) -> Result<Vec<AlarmReading>, PageError> {
        let mut readings = Vec::new();
        for chunk in names.chunks(100) {
            let output = self
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                // A page holds 50 alarms unless asked for more; a chunk names up to 100.
                .max_records(100)
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .send()
                .await
                .map_err(|e| PageError(classify("DescribeAlarms", e).to_string()))?;
            let metric = output
                .metric_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value(), a.state_updated_timestamp()));
            let composite = output
                .composite_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value(), a.state_updated_timestamp()));
            for (name, state, since) in metric.chain(composite) {
                let (Some(name), Some(state), Some(since)) = (name, state, since) else {
                    continue;
                };
                let state = match state {
                    StateValue::Ok => AlarmState::Ok,
                    StateValue::Alarm => AlarmState::Alarm,
                    _ => AlarmState::InsufficientData,
                };
                let Some(since) =
                    DateTime::<Utc>::from_timestamp(since.secs(), since.subsec_nanos())
                else {
                    continue;
                };
                readings.push(AlarmReading {
                    alarm_name: name.to_string(),
                    state,
                    since,
                });
            }
        }
        Ok(readings)
    }
}

/// An email subscription on the pages topic, as SNS lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSubscription {
    pub endpoint: String,
    /// `None` while the address has not confirmed: SNS gives it no ARN yet.
    pub arn: Option<String>,
    /// The contacts its filter policy lets through; empty when it has no `contact` filter.
    pub contacts: Vec<String>,
}

/// One change that brings the pages topic's email subscriptions in line with the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// A new address: subscribe it, filtered to its contacts. SNS mails a confirmation.
    Subscribe {
        endpoint: String,
        contacts: Vec<String>,
    },
    /// A confirmed address whose filter lets the wrong contacts through.
    Refilter {
        endpoint: String,
        arn: String,
        contacts: Vec<String>,
    },
    /// A confirmed address no contact has any more.
    Unsubscribe { endpoint: String, arn: String },
    /// Nothing to do: in line, or waiting for its owner to confirm (its filter was set
    /// when it was subscribed and cannot change before then).
    Keep { endpoint: String, pending: bool },
}

/// The filter policy that delivers a page to these contacts only.
pub fn contact_filter_policy(contacts: &[String]) -> String {
    serde_json::json!({ CONTACT_ATTRIBUTE: contacts }).to_string()
}

/// What to change so that each contact's email, and nothing else, is subscribed to the
/// pages topic with a filter on exactly the contacts that use that address. The topic
/// is Quench's: an email subscription on it that no contact has is removed.
pub fn plan_subscriptions(
    existing: &[EmailSubscription],
    contacts: &std::collections::BTreeMap<String, quench_core::escalation::Contact>,
) -> Vec<SubscriptionChange> {
    let mut wanted: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (name, contact) in contacts {
        if let Some(email) = &contact.email {
            wanted.entry(email.as_str()).or_default().push(name.clone());
        }
    }
    let mut changes = Vec::new();
    for subscription in existing {
        let endpoint = subscription.endpoint.clone();
        let wanted_contacts = wanted.remove(subscription.endpoint.as_str());
        changes.push(match (&subscription.arn, wanted_contacts) {
            (None, _) => SubscriptionChange::Keep {
                endpoint,
                pending: true,
            },
            (Some(arn), None) => SubscriptionChange::Unsubscribe {
                endpoint,
                arn: arn.clone(),
            },
            (Some(_), Some(contacts)) if contacts == subscription.contacts => {
                SubscriptionChange::Keep {
                    endpoint,
                    pending: false,
                }
            }
            (Some(arn), Some(contacts)) => SubscriptionChange::Refilter {
                endpoint,
                arn: arn.clone(),
                contacts,
            },
        });
    }
    changes.extend(
        wanted
            .into_iter()
            .map(|(endpoint, contacts)| SubscriptionChange::Subscribe {
                endpoint: endpoint.to_string(),
                contacts,
            }),
    );
    changes
}

/// The email subscriptions of `topic_arn`, with the contacts each one's filter names.
pub async fn email_subscriptions(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
) -> Result<Vec<EmailSubscription>, PageError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = sns
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| PageError(classify("ListSubscriptionsByTopic", e).to_string()))?;
        for subscription in page.subscriptions() {
            if subscription.protocol() != Some("email") {
                continue;
            }
            let endpoint = subscription.endpoint().unwrap_or_default().to_string();
            // Unconfirmed subscriptions are listed with this in place of an ARN.
            let arn = subscription
                .subscription_arn()
                .filter(|arn| arn.starts_with("arn:"))
                .map(str::to_string);
            let contacts = match &arn {
                Some(arn) => filtered_contacts(sns, arn).await?,
                None => Vec::new(),
            };
            found.push(EmailSubscription {
                endpoint,
                arn,
                contacts,
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

async fn filtered_contacts(sns: &aws_sdk_sns::Client, arn: &str) -> Result<Vec<String>, PageError> {
    let output = sns
        .get_subscription_attributes()
        .subscription_arn(arn)
        .send()
        .await
        .map_err(|e| PageError(classify("GetSubscriptionAttributes", e).to_string()))?;
    let policy: serde_json::Value = output
        .attributes()
        .and_then(|a| a.get("FilterPolicy"))
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let mut contacts: Vec<String> = policy[CONTACT_ATTRIBUTE]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    contacts.sort();
    Ok(contacts)
}

/// Makes the changes of [`plan_subscriptions`]; stops at the first that fails (a rerun
/// plans again from what is there).
pub async fn apply_subscription_changes(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    changes: &[SubscriptionChange],
) -> Result<(), PageError> {
    for change in changes {
        match change {
            SubscriptionChange::Subscribe { endpoint, contacts } => {
                sns.subscribe()
                    .topic_arn(topic_arn)
                    .protocol("email")
                    .endpoint(endpoint)
                    .attributes("FilterPolicy", contact_filter_policy(contacts))
                    .send()
                    .await
                    .map_err(|e| PageError(classify("Subscribe", e).to_string()))?;
            }
            SubscriptionChange::Refilter { arn, contacts, .. } => {
                sns.set_subscription_attributes()
                    .subscription_arn(arn)
                    .attribute_name("FilterPolicy")
                    .attribute_value(contact_filter_policy(contacts))
                    .send()
                    .await
                    .map_err(|e| PageError(classify("SetSubscriptionAttributes", e).to_string()))?;
            }
            SubscriptionChange::Unsubscribe { arn, .. } => {
                sns.unsubscribe()
                    .subscription_arn(arn)
                    .send()
                    .await
                    .map_err(|e| PageError(classify("Unsubscribe", e).to_string()))?;
            }
            SubscriptionChange::Keep { .. } => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
    use aws_sdk_sns::types::error::InvalidParameterException;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use quench_core::escalation::Contact;

    use super::*;

    /// SNS's own rule for a Subject, written out independently of the code under test:
    /// printable ASCII, no line breaks, beginning with a letter, number or punctuation
    /// mark, fewer than 100 characters.
    fn sns_accepts(subject: &str) -> bool {
        subject.len() < 100
            && subject.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
            && subject.bytes().next().is_some_and(|b| b.is_ascii_graphic())
    }

    const REFUSAL: &str = "Invalid parameter: Subject must be less than 100 characters";

    /// A pages topic that refuses what SNS refuses.
    fn strict_sns() -> aws_sdk_sns::Client {
        let refused = mock!(aws_sdk_sns::Client::publish)
            .match_requests(|r| r.subject().is_some_and(|s| !sns_accepts(s)))
            .then_error(|| {
                PublishError::InvalidParameterException(
                    InvalidParameterException::builder()
                        .message(REFUSAL)
                        .meta(
                            ErrorMetadata::builder()
                                .code("InvalidParameter")
                                .message(REFUSAL)
                                .build(),
                        )
                        .build(),
                )
            });
        let published = mock!(aws_sdk_sns::Client::publish)
            .then_output(|| PublishOutput::builder().message_id("m-1").build());
        mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&refused, &published])
    }

    #[test]
    fn a_subject_is_cleaned_and_cut_to_what_sns_accepts() {
        assert_eq!(email_subject("[Quench] P2 web-5xx"), "[Quench] P2 web-5xx");
        assert_eq!(
            email_subject("  [Quench] P1 disk\r\nBcc: x\t\u{7}full  "),
            "[Quench] P1 disk Bcc: x full"
        );
        assert_eq!(
            email_subject("[Quench] P3 Größe — ✓"),
            "[Quench] P3 Gr??e ? ?"
        );
        assert_eq!(email_subject(" \n\u{0} "), BLANK_SUBJECT);
        let exact = format!("[Quench] P2 {}", "a".repeat(MAX_SUBJECT_CHARS - 12));
        assert_eq!(email_subject(&exact), exact, "99 characters fit");
        let long = format!("[Quench] P2 {}", "a".repeat(MAX_SUBJECT_CHARS - 11));
        let cut = email_subject(&long);
        assert_eq!(cut.len(), MAX_SUBJECT_CHARS);
        assert!(
            cut.starts_with("[Quench] P2 aaa") && cut.ends_with("a..."),
            "{cut}"
        );
        assert_eq!(
            email_subject(&format!("x{}tail", "word ".repeat(20))),
            format!("x{}...", "word ".repeat(19).trim_end()),
            "no blank before the marker"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_title_yields_a_subject_sns_accepts(title in "\\PC*|.*", impact in 1u8..=5) {
            let prefix = format!("[Quench] P{impact}");
            let subject = email_subject(&format!("{prefix} {title}"));
            proptest::prop_assert!(sns_accepts(&subject), "{subject:?}");
            proptest::prop_assert!(subject.starts_with(&prefix), "{subject:?}");
            proptest::prop_assert_eq!(email_subject(&subject), subject.clone(), "clean is a fixed point");
        }

        #[test]
        fn any_text_at_all_yields_a_subject_sns_accepts(text in proptest::collection::vec(proptest::char::any(), 0..300)) {
            let subject = email_subject(&text.into_iter().collect::<String>());
            proptest::prop_assert!(sns_accepts(&subject), "{subject:?}");
        }
    }

    #[tokio::test]
    async fn an_email_page_goes_out_whatever_the_incident_title() {
        let pager = Pager::new(strict_sns(), Some("arn:aws:sns:eu-west-1:1:pages".into()));
        let title = format!(
            "prod-eu-west-1-checkout-{}\r\nBcc: x — ✓",
            "p99-latency-".repeat(8)
        );
        let subject = format!("[Quench] P2 {title}");
        let sent = pager.email("alice", &subject, &title).await;
        assert_eq!(sent.map_err(|e| e.to_string()), Ok("m-1".to_string()));
    }

    fn contact(email: &str) -> Contact {
        Contact {
            name: None,
            email: Some(email.to_string()),
            phone: None,
            chat: None,
            engagement: Vec::new(),
        }
    }

    fn confirmed(endpoint: &str, contacts: &[&str]) -> EmailSubscription {
        EmailSubscription {
            endpoint: endpoint.to_string(),
            arn: Some(format!("arn:aws:sns:eu-west-1:1:pages:{endpoint}")),
            contacts: contacts.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn the_plan_subscribes_refilters_removes_and_keeps() {
        let contacts = BTreeMap::from([
            ("alice".to_string(), contact("alice@example.com")),
            ("bob".to_string(), contact("oncall@example.com")),
            ("carol".to_string(), contact("oncall@example.com")),
            ("dave".to_string(), contact("dave@example.com")),
            ("erin".to_string(), contact("erin@example.com")),
        ]);
        let existing = [
            confirmed("alice@example.com", &["alice"]),
            confirmed("oncall@example.com", &["bob"]),
            confirmed("mallory@example.com", &["mallory"]),
            EmailSubscription {
                endpoint: "dave@example.com".into(),
                arn: None,
                contacts: vec![],
            },
        ];
        let arn = |e: &str| format!("arn:aws:sns:eu-west-1:1:pages:{e}");
        assert_eq!(
            plan_subscriptions(&existing, &contacts),
            vec![
                SubscriptionChange::Keep {
                    endpoint: "alice@example.com".into(),
                    pending: false
                },
                SubscriptionChange::Refilter {
                    endpoint: "oncall@example.com".into(),
                    arn: arn("oncall@example.com"),
                    contacts: vec!["bob".into(), "carol".into()],
                },
                SubscriptionChange::Unsubscribe {
                    endpoint: "mallory@example.com".into(),
                    arn: arn("mallory@example.com"),
                },
                SubscriptionChange::Keep {
                    endpoint: "dave@example.com".into(),
                    pending: true
                },
                SubscriptionChange::Subscribe {
                    endpoint: "erin@example.com".into(),
                    contacts: vec!["erin".into()],
                },
            ]
        );
        assert_eq!(
            contact_filter_policy(&["bob".into(), "carol".into()]),
            r#"{"contact":["bob","carol"]}"#
        );
    }
}
