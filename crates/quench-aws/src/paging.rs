//! The ticker's calls out: pages by email (the pages SNS topic, one subscription per
//! contact filtered on the `contact` attribute) and SMS (SNS direct publish), and the
//! alarm states a recovery check reads.

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use aws_sdk_sns::types::MessageAttributeValue;
use chrono::{DateTime, Utc};
use quench_core::alarm::AlarmState;
use quench_core::ticker::AlarmReading;

use crate::actions::classify;

/// Why a page did not go out.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PageError(pub String);

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

    /// Publishes to the pages topic; the contact's email subscription's filter policy
    /// (`{"contact": [NAME]}`) delivers it to them alone.
    pub async fn email(
        &self,
        contact: &str,
        subject: &str,
        body: &str,
    ) -> Result<String, PageError> {
        let topic = self
            .topic_arn
            .as_deref()
            .ok_or_else(|| PageError("no pages topic configured (QUENCH_PAGES_TOPIC)".into()))?;
        let output = self
            .sns
            .publish()
            .topic_arn(topic)
            .subject(subject)
            .message(body)
            .message_attributes("contact", attribute(contact)?)
            .message_attributes("via", attribute("email")?)
            .send()
            .await
            .map_err(|e| PageError(classify("Publish", e).to_string()))?;
        Ok(output.message_id.unwrap_or_default())
    }

    /// An SMS straight to the number; transactional, so it is not dropped as marketing.
    pub async fn sms(&self, phone: &str, body: &str) -> Result<String, PageError> {
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

/// The current state of each named alarm that exists (metric or composite), in one
/// DescribeAlarms call per 100 names.
pub async fn alarm_readings(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<Vec<AlarmReading>, PageError> {
    let mut readings = Vec::new();
    for chunk in names.chunks(100) {
        let output = cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
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
            let Some(since) = DateTime::<Utc>::from_timestamp(since.secs(), since.subsec_nanos())
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
