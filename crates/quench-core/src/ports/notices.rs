//! The ports chat delivery goes through: the store's deliveries, the chat sender, and
//! the host the delivery runs on (waiting between attempts, and the logs).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::chat::channels::Channel;
use crate::chat::notice::Delivery;
use crate::ports::actions::ActionError;
use crate::ports::incident_log::IncidentLog;
use crate::ports::incident_store::StoreError;

/// The store operations delivery needs beyond the incident and its timeline.
pub trait NoticeStore: IncidentLog {
    /// Every chat delivery of the incident.
    fn deliveries(
        &self,
        incident_id: &str,
    ) -> impl Future<Output = Result<Vec<Delivery>, StoreError>> + Send;

    /// Claims a delivery before sending. `false`: it is delivered or dead-lettered
    /// already, or another invocation claimed it less than `lease` ago and may be sending
    /// right now. A claim older than the lease belongs to an attempt that died; it is
    /// taken over (that attempt may have posted: at-least-once in that one case).
    fn claim_delivery(
        &self,
        delivery: &Delivery,
        lease: chrono::Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives back a claim whose message was not delivered, so the next attempt can
    /// claim it (a chat page, which the ticker retries itself). Nothing happens if the
    /// claim was taken over meanwhile.
    fn release_delivery(
        &self,
        claim: &Delivery,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records how a claimed delivery ended.
    fn settle_delivery(
        &self,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How one send attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another attempt: 429 (with the server's `Retry-After`), 5xx, a timeout, a
    /// throttled AWS call, a secret that could not be read now.
    #[error("{reason}")]
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// A retry will not help: 4xx, a bad URL, an unknown Slack channel, a missing secret.
    #[error("{reason}")]
    Fail { reason: String },
}

impl SendError {
    pub fn retry(reason: impl Into<String>) -> Self {
        SendError::Retry {
            after: None,
            reason: reason.into(),
        }
    }

    pub fn fail(reason: impl Into<String>) -> Self {
        SendError::Fail {
            reason: reason.into(),
        }
    }
}

impl From<ActionError> for SendError {
    fn from(error: ActionError) -> Self {
        if error.is_retryable() {
            SendError::retry(error.to_string())
        } else {
            SendError::fail(error.to_string())
        }
    }
}

/// A delivered message; `thread` is the channel's id for it when later messages can
/// thread under it (Slack's `ts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub thread: Option<String>,
}

/// Sending and dead-lettering.
pub trait ChatSender {
    /// Sends one rendered body. `key` identifies the message (incident and event) for
    /// receivers that deduplicate.
    fn send(
        &self,
        channel: &Channel,
        body: &serde_json::Value,
        thread: Option<&str>,
        key: &str,
    ) -> impl Future<Output = Result<Sent, SendError>> + Send;

    /// Keeps an undeliverable message. Returns whether a queue took it.
    fn dead_letter(
        &self,
        record: &serde_json::Value,
    ) -> impl Future<Output = Result<bool, SendError>> + Send;

    /// Rewrites the message `thread` identifies, where the channel can edit.
    fn update(
        &self,
        channel: &Channel,
        body: &serde_json::Value,
        thread: &str,
    ) -> impl Future<Output = Result<(), SendError>> + Send;
}

/// What the delivery flow tells the logs, as it happens.
#[derive(Debug, Clone, Copy)]
pub enum DeliveryNote<'a> {
    /// A send failed and is tried again after `wait`.
    Retrying {
        incident_id: &'a str,
        channel: &'a str,
        attempt: u32,
        wait: Duration,
        error: &'a SendError,
    },
    /// A message was given up; `queued` says where it is kept.
    GivenUp {
        incident_id: &'a str,
        channel: &'a str,
        event_key: &'a str,
        attempts: u32,
        error: &'a SendError,
        queued: &'a str,
    },
    /// The opening message could not be rewritten to show the incident's status.
    OpeningNotUpdated {
        incident_id: &'a str,
        channel: &'a str,
        error: &'a SendError,
    },
    /// An incident's conversations are caught up.
    CaughtUp {
        incident_id: &'a str,
        delivered: u32,
        dead_lettered: u32,
        pending: u32,
    },
}

/// Where the delivery flow runs: it waits between attempts there, reads the time its
/// budget is counted in and the entropy that spreads retries, and writes its logs. The
/// core reads no clock of its own.
pub trait DeliveryHost {
    fn sleep(&self, wait: Duration) -> impl Future<Output = ()> + Send;
    /// A monotonic reading; the flow counts its time budget from the first one.
    fn instant(&self) -> Instant;
    /// A value that differs between invocations, to seed retry jitter.
    fn jitter_seed(&self) -> u64;
    fn note(&self, note: DeliveryNote<'_>);
}
