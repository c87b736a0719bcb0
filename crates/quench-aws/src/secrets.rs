//! Secrets (webhook URLs, bot tokens, signing keys) from Secrets Manager or SSM
//! SecureString, kept for [`SECRET_TTL`] and read again sooner when a receiver refuses
//! the one kept. A [`Secret`] never prints its value, and no error here carries one:
//! only the secret's name.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

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

/// How long a read secret is used before it is read again. The escalation ticker runs
/// every minute, so its container never goes cold: without an expiry a rotated webhook
/// URL or bot token would never reach it.
pub const SECRET_TTL: Duration = Duration::from_secs(300);

struct Cached {
    value: Secret,
    read_at: Instant,
}

/// Reads secrets and keeps each for [`SECRET_TTL`] (on tokio's clock).
pub struct Secrets {
    ssm: aws_sdk_ssm::Client,
    secrets_manager: aws_sdk_secretsmanager::Client,
    cache: Mutex<HashMap<SecretRef, Cached>>,
}

impl Secrets {
    pub fn new(ssm: aws_sdk_ssm::Client, secrets_manager: aws_sdk_secretsmanager::Client) -> Self {
        Secrets {
            ssm,
            secrets_manager,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The secret, from the cache while it is younger than [`SECRET_TTL`].
    pub async fn get(&self, secret: &SecretRef) -> Result<Secret, SecretError> {
        let kept = self.cache.lock().ok().and_then(|cache| {
            cache
                .get(secret)
                .filter(|c| c.read_at.elapsed() < SECRET_TTL)
                .map(|c| c.value.clone())
        });
        match kept {
            Some(value) => Ok(value),
            None => self.read(secret).await,
        }
    }

    /// Reads the secret again whatever its age, for a receiver that refused the value
    /// kept (it may have been rotated). `Some` only when the value changed, so the
    /// caller retries only when a retry can differ.
    pub async fn refresh(&self, secret: &SecretRef) -> Result<Option<Secret>, SecretError> {
        let before = self
            .cache
            .lock()
            .ok()
            .and_then(|cache| cache.get(secret).map(|c| c.value.clone()));
        let fresh = self.read(secret).await?;
        Ok((before.as_ref() != Some(&fresh)).then_some(fresh))
    }

    async fn read(&self, secret: &SecretRef) -> Result<Secret, SecretError> {
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
            let cached = Cached {
                value: value.clone(),
                read_at: Instant::now(),
            };
            cache.insert(secret.clone(), cached);
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

    /// Secrets Manager answering `values` in turn, for `quench/hook`.
    fn rotating(values: &[&'static str]) -> (aws_smithy_mocks::Rule, Secrets) {
        let mut sequence = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some("quench/hook"))
            .sequence();
        for &value in values {
            sequence = sequence
                .output(move || GetSecretValueOutput::builder().secret_string(value).build());
        }
        let rule = sequence.build();
        let secrets_manager = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, [&rule]);
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, []);
        (rule, Secrets::new(ssm, secrets_manager))
    }

    const ROTATED: &str = "https://hooks.example.com/services/T0/B0/rotated";

    #[tokio::test(start_paused = true)]
    async fn a_kept_secret_is_read_again_once_it_is_five_minutes_old() {
        let (rule, secrets) = rotating(&[VALUE, ROTATED]);
        let hook = SecretRef::SecretsManager("quench/hook".into());
        assert_eq!(secrets.get(&hook).await.expect("read").expose(), VALUE);
        tokio::time::advance(Duration::from_secs(4 * 60)).await;
        assert_eq!(secrets.get(&hook).await.expect("kept").expose(), VALUE);
        assert_eq!(rule.num_calls(), 1, "kept for four minutes");
        // A warm container six minutes on: the rotation reaches it.
        tokio::time::advance(Duration::from_secs(2 * 60)).await;
        assert_eq!(secrets.get(&hook).await.expect("read").expose(), ROTATED);
        assert_eq!(rule.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_refresh_reads_past_the_cache_and_says_whether_the_value_changed() {
        let (rule, secrets) = rotating(&[VALUE, VALUE, ROTATED]);
        let hook = SecretRef::SecretsManager("quench/hook".into());
        assert_eq!(secrets.get(&hook).await.expect("read").expose(), VALUE);
        assert_eq!(
            secrets.refresh(&hook).await.expect("read"),
            None,
            "unchanged"
        );
        let fresh = secrets.refresh(&hook).await.expect("read");
        assert_eq!(fresh.as_ref().map(Secret::expose), Some(ROTATED));
        assert_eq!(secrets.get(&hook).await.expect("kept").expose(), ROTATED);
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn secrets_are_kept_between_reads_and_errors_name_only_the_secret() {
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
