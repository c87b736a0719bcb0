//! Every port the domain talks through, in one place. The adapters are in `quench-aws`,
//! with an in-memory fake of each beside them (`quench_aws::fake`, feature `fakes`).
//!
//! The incident store ([`IncidentStore`]), the runbook actions ([`ActionRunner`]) and
//! the mirrors ([`IncidentMirror`]) are defined next to the decisions they serve and
//! named here too.

pub mod incident_log;
pub mod notices;
pub mod page_store;
pub mod paging;
pub mod step_store;

pub use crate::actions::ActionRunner;
pub use crate::mirror::IncidentMirror;
pub use crate::store::{IncidentStore, StoreError};
pub use incident_log::IncidentLog;
pub use notices::{ChatSender, DeliveryHost, DeliveryNote, NoticeStore, SendError, Sent};
pub use page_store::{DueItem, PageStore};
pub use paging::{AlarmReader, PageError, PageSender};
pub use step_store::StepStore;
