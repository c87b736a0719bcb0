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
//!
//! Layout: `policy` (contacts and escalation policies as configured, and their checks),
//! `paging` (the walk's state and its pages, as stored), `walk` (how the walk moves, reading only the `roster`),
//! `sending` (what the ticker does with a due page and how a send settles it).

pub(crate) mod paging;
pub(crate) mod policy;
pub(crate) mod roster;
pub(crate) mod sending;
#[cfg(test)]
mod tests;
pub(crate) mod walk;

pub use paging::{
    page_retry_at, Page, PageState, Paging, PagingState, MAX_PAGES_PER_WAVE, MAX_PAGE_ATTEMPTS,
};
pub use policy::{ChatIdentity, Contact, Engagement, EscalationPolicy, Stage, Target, Via};
pub use roster::Roster;
pub use sending::{
    due_again, in_send_order, plan_page, put_back, sendable, settle, Outgoing, PageMessage,
    PageOutcome, PagePlan, Settled,
};
pub use walk::{
    acknowledge, acknowledged, advance, page_wave, stage_contacts, start, AckEffect, Advance,
};
