//! The escalation ticker's calls out: pages by email and SMS, and the alarm states a
//! recovery check reads.

use std::future::Future;

use crate::incident::tick::AlarmReading;

/// Why a page did not go out, or alarms could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PageError(pub String);

pub trait PageSender {
    /// Emails `contact` (by the subscription filtered on them); returns a message id.
    fn email(
        &self,
        contact: &str,
        subject: &str,
        body: &str,
    ) -> impl Future<Output = Result<String, PageError>> + Send;

    /// An SMS straight to the number; returns a message id.
    fn sms(
        &self,
        phone: &str,
        body: &str,
    ) -> impl Future<Output = Result<String, PageError>> + Send;
}

pub trait AlarmReader {
    /// The current state of each named alarm that exists (metric or composite).
    fn readings(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmReading>, PageError>> + Send;
}
