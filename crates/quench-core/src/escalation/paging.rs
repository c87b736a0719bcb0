//! The state of an incident's walk through its policy and the pages it writes, as
//! stored with the incident.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::escalation::policy::Via;

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

/// The most pages one wave may write. They are written in the transaction of the
/// decision that paged them, beside the dedup head, the incident and its timeline event,
/// and a DynamoDB transaction holds at most 100 items
/// ([`crate::ports::MAX_COMMIT_ITEMS`]). Validation refuses a stage that
/// could page more.
pub const MAX_PAGES_PER_WAVE: usize = 97;

/// How many times a page is tried before it is given up as failed; one try per tick.
pub const MAX_PAGE_ATTEMPTS: u32 = 5;

/// When a failed page is tried again: the next tick, then backing off to 8 minutes.
/// `None`: given up (or no retry fits before the end of time).
pub fn page_retry_at(page: &Page, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let backoff = chrono::TimeDelta::minutes(1_i64 << page.attempts.saturating_sub(1).min(3));
    (page.attempts < MAX_PAGE_ATTEMPTS)
        .then(|| now.checked_add_signed(backoff))
        .flatten()
}
