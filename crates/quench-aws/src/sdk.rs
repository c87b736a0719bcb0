//! SDK configuration shared by every handler, and config loading from SSM.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ssm::error::DisplayErrorContext;

/// Standard retry mode with more attempts and shorter backoff than the default: a Lambda
/// has seconds, not minutes, and a throttled DynamoDB call usually clears within a few
/// hundred milliseconds. Honours `AWS_ENDPOINT_URL`, which is how the local stack is used.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .load()
        .await
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigSourceError {
    #[error("cannot read config parameter `{name}`: {message}")]
    Parameter { name: String, message: String },
    #[error("config parameter `{0}` has no value")]
    Empty(String),
}

/// Reads the config text from an SSM parameter (String or SecureString).
pub async fn config_from_parameter(
    client: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<String, ConfigSourceError> {
    let output = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| ConfigSourceError::Parameter {
            name: name.to_string(),
            message: DisplayErrorContext(&e).to_string(),
        })?;
    output
        .parameter
        .and_then(|p| p.value)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ConfigSourceError::Empty(name.to_string()))
}
