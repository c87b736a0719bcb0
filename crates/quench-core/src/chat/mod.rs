//! Chat: the channels a plan posts to, what a message is about ([`Notice`]), and how it
//! is rendered for each kind of channel. Pure: the `chat-notifier` Lambda fetches the
//! secrets, sends, retries and records deliveries.
//!
//! Every incident has one conversation: the opening message, then each runbook step,
//! each page and acknowledgement, and the resolution, threaded under the opening message
//! where the channel can thread (Slack with a bot token; AWS Chatbot by thread id).
//!
//! Layout: `channels` (the config section), `notice` (what a message is about, and a
//! delivery's record), `render` (the body for each kind of channel), `delivery` (the flow
//! that brings a channel's thread up to date: claim, render, send, settle).

pub(crate) mod channels;
pub(crate) mod delivery;
pub(crate) mod notice;
pub mod render;
#[cfg(test)]
mod tests;

pub use channels::{Channel, ChannelKind, ChatConfig, SecretRef};
pub use delivery::{DeliveryReport, NoticeError, Notifier, PageDelivery, RetryPolicy};
pub use notice::{Delivery, DeliveryState, Links, Notice, NoticeEvent};
