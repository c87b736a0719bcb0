//! Every port the domain talks through, in one place: the traits the adapters in
//! `quench-aws` implement, with an in-memory fake of each beside them
//! (`quench_aws::fake`, feature `fakes`), so the decisions and handlers never name an
//! AWS SDK.

pub(crate) mod actions;
pub(crate) mod incident_log;
pub(crate) mod incident_store;
pub(crate) mod mirror;
pub(crate) mod notices;
pub(crate) mod page_store;
pub(crate) mod paging;
pub(crate) mod step_store;

pub use actions::{
    automation_status, client_token, command_status, step_key, step_marker, ActionError,
    ActionRunner, AlarmStateInfo, AutomationFinished, AutomationResult, CommandFinished,
    CommandRequest, CommandResult, Datapoint, InstanceStatus, MetricRequest, StepClaim,
};
pub use incident_log::IncidentLog;
pub use incident_store::{fits_one_transaction, IncidentStore, StoreError, MAX_COMMIT_ITEMS};
pub use mirror::{IncidentMirror, MirrorFailure, MirrorReport};
pub use notices::{ChatSender, DeliveryHost, DeliveryNote, NoticeStore, SendError, Sent};
pub use page_store::{DueItem, DueQueue, PageStore};
pub use paging::{AlarmReader, PageError, PageSender};
pub use step_store::{StepRun, StepStore};
