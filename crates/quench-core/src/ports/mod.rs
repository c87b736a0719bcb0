//! Every port of Quench: the traits the adapters in `quench-aws` implement (with an
//! in-memory fake beside each), so the decisions and handlers never name an AWS SDK.

pub(crate) mod actions;
pub(crate) mod incident_store;
pub(crate) mod mirror;

pub use actions::{
    automation_status, client_token, command_status, step_key, ActionError, ActionRunner,
    AlarmStateInfo, AutomationFinished, AutomationResult, CommandFinished, CommandRequest,
    CommandResult, Datapoint, InstanceStatus, MetricRequest, StepClaim,
};
pub use incident_store::{IncidentStore, StoreError};
pub use mirror::{IncidentMirror, MirrorFailure, MirrorReport};
