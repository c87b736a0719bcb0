//! Secrets (webhook URLs, bot tokens, signing keys) from Secrets Manager or SSM
//! SecureString, fetched once per cold start. A [`Secret`] never prints its value, and no
//! error here carries one: only the secret's name.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use quench_core::chat::SecretRef;
use quench_core::ports::ActionError;

use crate::actions::classify;

/// A secret value. `Debug` and `Display` show `[redacted]`, so a secret that reaches a
/// log line or an error message by mistake shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Throttling, timeouts, 5xx: worth retrying.
    #[error("cannot read secret `{name}` now: {message}")]
    Unavailable { name: String, message: String },
    /// Missing, access denied, empty: a retry will not help.
    #[error("cannot read secret `{name}`: {message}")]
    Failed { name: String, message: String },
}

impl SecretError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SecretError::Unavailable { .. })
    }
}

fn name_of(secret: &SecretRef) -> &str {
    match secret {
        SecretRef::SecretsManager(name) | SecretRef::Ssm(name) => name,
    }
}

/// Reads secrets and keeps them for the life of the process: a Lambda container lives
/// minutes to hours, and a rotated webhook URL is picked up by the next cold start.
pub struct Secrets {
    ssm: aws_sdk_ssm::Client,
    secrets_manager: aws_sdk_secretsmanager::Client,
    cache: Mutex<HashMap<SecretRef, Secret>>,
}

impl Secrets {
    pub fn new(ssm: aws_sdk_ssm::Client, secrets_manager: aws_sdk_secretsmanager::Client) -> Self {
        Secrets {
            ssm,
            secrets_manager,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, secret: &SecretRef) -> Result<Secret, SecretError> {
        if let Some(found) = self
            .cache
            .lock()
            .ok()
            .and_then(|cache| cache.get(secret).cloned())
        {
            return Ok(found);
        }
        let name = name_of(secret).to_string();
        let value = match secret {
            SecretRef::SecretsManager(id) => {
                let output = self
                    .secrets_manager
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(|e| secret_error(&name, classify("GetSecretValue", e)))?;
                output.secret_string
            }
            SecretRef::Ssm(parameter) => {
                let output = self
                    .ssm
                    .get_parameter()
                    .name(parameter)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|e| secret_error(&name, classify("GetParameter", e)))?;
                output.parameter.and_then(|p| p.value)
            }
        };
        let value = value
            .filter(|v| !v.trim().is_empty())
            .map(|v| Secret::new(v.trim()))
            .ok_or_else(|| SecretError::Failed {
                name: name.clone(),
                message: "it has no value".into(),
            })?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(secret.clone(), value.clone());
        }
        Ok(value)
    }
}

/// The SDK error as the runbook actions classify it, keeping only the secret's name.
fn secret_error(name: &str, error: ActionError) -> SecretError {
    let message = error.to_string();
    if error.is_retryable() {
        SecretError::Unavailable {
            name: name.to_string(),
            message,
        }
    } else {
        SecretError::Failed {
            name: name.to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_secretsmanager::operation::get_secret_value::{
        GetSecretValueError, GetSecretValueOutput,
    };
    use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    use super::*;

    const VALUE: &str = "https://hooks.example.com/services/T0/B0/very-secret";

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = Secret::new(VALUE);
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(secret.expose(), VALUE);
    }

    #[tokio::test]
    async fn secrets_are_read_once_per_process_and_errors_name_only_the_secret() {
        let found = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some("quench/hook"))
            .then_output(|| GetSecretValueOutput::builder().secret_string(VALUE).build());
        let missing = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some("quench/gone"))
            .then_error(|| {
                GetSecretValueError::ResourceNotFoundException(
                    ResourceNotFoundException::builder()
                        .message("Secrets Manager can't find the specified secret.")
                        .build(),
                )
            });
        let secrets_manager = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&found, &missing]
        );
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, []);
        let secrets = Secrets::new(ssm, secrets_manager);
        let hook = SecretRef::SecretsManager("quench/hook".into());
        for _ in 0..3 {
            assert_eq!(secrets.get(&hook).await.expect("read").expose(), VALUE);
        }
        assert_eq!(found.num_calls(), 1, "cached after the first read");

        let error = secrets
            .get(&SecretRef::SecretsManager("quench/gone".into()))
            .await
            .expect_err("missing");
        assert!(!error.is_retryable());
        let text = error.to_string();
        assert!(text.contains("quench/gone"), "{text}");
        assert!(!text.contains(VALUE));
    }
}
