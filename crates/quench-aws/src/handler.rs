//! What every handler shares at its edge: the stable error names the state machine's
//! Retry and Catch match on, and reading the environment at a cold start.

use lambda_runtime::Diagnostic;
use quench_core::alarm::EventError;
use quench_core::chat::NoticeError;
use quench_core::incident::ApplyError;
use quench_core::ports::StoreError;
use quench_core::routing::RoutingError;

use crate::sdk::ConfigLoadError;

/// The errors of a handler whose input comes from the state machine. `error_type` is
/// the stable name: `InvalidEvent` (do not retry), `UnroutableAlarm` (no plan takes the
/// alarm), `Retryable` (retry with backoff; the handlers are idempotent),
/// `InternalError`.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    InvalidEvent(#[from] EventError),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Unroutable(#[from] RoutingError),
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Internal(String),
}

impl HandlerError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidEvent(_) | Self::InvalidRequest(_) => "InvalidEvent",
            Self::Unroutable(_) => "UnroutableAlarm",
            Self::Retryable(_) => "Retryable",
            Self::Internal(_) => "InternalError",
        }
    }
}

impl From<StoreError> for HandlerError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Failed(m) => Self::Internal(m),
            other => Self::Retryable(other.to_string()),
        }
    }
}

impl From<ApplyError> for HandlerError {
    fn from(error: ApplyError) -> Self {
        match error {
            ApplyError::Routing(e) => Self::Unroutable(e),
            ApplyError::Store(e) => e.into(),
            other => Self::Retryable(other.to_string()),
        }
    }
}

impl From<NoticeError> for HandlerError {
    fn from(error: NoticeError) -> Self {
        match error {
            NoticeError::NoIncident(_) => Self::InvalidRequest(error.to_string()),
            NoticeError::Store(e) => e.into(),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}

/// Decodes a request of at most `max_bytes`; anything else is `InvalidEvent`.
pub fn decode_request<T: serde::de::DeserializeOwned>(
    raw: &str,
    max_bytes: usize,
) -> Result<T, HandlerError> {
    if raw.len() > max_bytes {
        return Err(HandlerError::InvalidRequest(format!(
            "{} bytes, at most {max_bytes}",
            raw.len()
        )));
    }
    serde_json::from_str(raw).map_err(|e| HandlerError::InvalidRequest(e.to_string()))
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("environment variable {0} is required")]
    MissingEnv(&'static str),
    #[error("environment variable {0} is not a whole number of seconds")]
    BadEnv(&'static str),
    #[error(transparent)]
    Config(#[from] ConfigLoadError),
}

/// A required environment variable.
pub fn required_env(name: &'static str) -> Result<String, InitError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(InitError::MissingEnv(name))
}

/// An optional environment variable; empty counts as unset.
pub fn optional_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
