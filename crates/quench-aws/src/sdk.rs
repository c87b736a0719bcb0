//! SDK configuration shared by every handler, and config loading from SSM.

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::meta::region::ProvideRegion;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine as _;

/// Standard retry mode with more attempts and shorter backoff than the default: a Lambda
/// has seconds, not minutes, and a throttled DynamoDB call usually clears within a few
/// hundred milliseconds. Honours `AWS_ENDPOINT_URL`, which is how the local stack is used.
///
/// Every client built from this config, and aws-config's own credential and region
/// providers, share one HTTPS client and so one connection pool: see [`https_client`].
///
/// `function` names the caller in every request's user agent (`app/quench-<function>`),
/// so CloudTrail, and the local stack's request log, tell which function made a call.
pub async fn sdk_config(function: &str) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .timeout_config(timeouts());
    // The environment comes first in both default chains (region: env, profile, IMDS;
    // credentials: env, profile, web identity, ECS, IMDS), and the Lambda runtime always sets
    // the region and the function's credentials there. When it has them, use the
    // environment providers directly: the result is the one the chains would return, without
    // building the providers behind them. Anywhere else (SnapStart's container credentials,
    // a developer's profile), the default chains run as before.
    if let Ok(app) = aws_config::AppName::new(format!("quench-{function}")) {
        loader = loader.app_name(app);
    }
    if let Some(region) = EnvironmentVariableRegionProvider::new().region().await {
        loader = loader.region(region);
    }
    let env_set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if env_set("AWS_ACCESS_KEY_ID") && env_set("AWS_SECRET_ACCESS_KEY") {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// Bounds on every SDK call. Without them a call waits as long as the connection stays
/// open: a half-dead endpoint would hold a function until its own timeout, leaving no
/// time for the page or the escalation that should follow. An attempt gets 10 s (every
/// call Quench makes is a small request that AWS answers in milliseconds), the whole
/// call with its retries 20 s, so one stuck call leaves a third of even the shortest
/// function timeout (30 s) to record the failure and answer.
pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(20))
        .build()
}

/// The SDK's hyper 1.x HTTPS client, built as its default one is (rustls, proxy settings
/// from the environment, the SDK's cipher-suite list, certificate verification on) except:
///
/// - Trust store: Mozilla's roots from `webpki-root-certs`, compiled in, instead of the
///   platform store. Loading the platform store (`rustls-native-certs`) reads the CA bundle
///   and every file in the certificate directory, which was most of this function's cold
///   start. Compiled-in roots cost no I/O, and every runtime image (AL2, AL2023, a bare
///   container) trusts the same set, which includes the Amazon Trust Services roots behind
///   AWS endpoints. The trade-off: roots added to or distrusted in the OS store, or a
///   private CA (a TLS-inspecting proxy), are not seen, and root updates arrive with a
///   `cargo update` of webpki-root-certs rather than with OS patches.
/// - Crypto provider: `ring` instead of `aws-lc-rs` (both are rustls' supported providers;
///   the SDK narrows either to the same cipher suites).
/// - No throwaway connector per SDK client, see [`SharedPool`].
pub fn https_client() -> SharedHttpClient {
    let client = Builder::new().build_with_connector_fn(|settings, components| {
        connector(settings.cloned(), components.and_then(|c| c.sleep_impl()))
    });
    SharedHttpClient::new(SharedPool(client))
}

/// rustls + ring, Mozilla's roots, proxy settings from the environment: the connector of
/// every HTTPS request Quench makes, to AWS or to a chat webhook.
pub(crate) fn connector(
    settings: Option<HttpConnectorSettings>,
    sleep: Option<aws_smithy_async::rt::sleep::SharedAsyncSleep>,
) -> aws_smithy_http_client::Connector {
    let mut connector = ConnectorBuilder::default()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(webpki_tls_context().clone());
    connector.set_connector_settings(settings);
    connector.set_sleep_impl(sleep);
    connector.set_proxy_config(Some(ProxyConfig::from_env()));
    connector.build()
}

/// The pooled client above, minus its `validate_base_client_config` hook. That hook builds
/// a complete connector (rustls config and root store) and drops it, once for every SDK
/// client constructed: its only purpose is to load the platform certificates into a
/// process-wide cache at init rather than on the first request. With compiled-in roots
/// there is nothing to preload, so each of those connectors was pure waste (about 0.5 ms
/// apiece here). The connectors that carry requests are unchanged: the SDK builds them on
/// the first request for each set of connector settings and caches them in the client,
/// with or without this wrapper.
#[derive(Debug)]
struct SharedPool(SharedHttpClient);

impl HttpClient for SharedPool {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The TLS context with Mozilla's roots, made when the first connector is built (on the
/// first request, see [`SharedPool`]) and kept for the process.
fn webpki_tls_context() -> &'static TlsContext {
    static CONTEXT: OnceLock<TlsContext> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        // The SDK's trust store takes PEM.
        let mut pem = String::with_capacity(256 * 1024);
        for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            pem.push_str(&base64::engine::general_purpose::STANDARD.encode(cert.as_ref()));
            pem.push_str("\n-----END CERTIFICATE-----\n");
        }
        TlsContext::builder()
            .with_trust_store(TrustStore::empty().with_pem_certificate(pem.into_bytes()))
            .build()
            // `build` cannot fail today; were it to, the default context (platform roots,
            // verification still on) is the safe fallback.
            .unwrap_or_default()
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigSourceError {
    #[error("cannot read config parameter `{name}`: {message}")]
    Parameter { name: String, message: String },
    #[error("config parameter `{0}` has no value")]
    Empty(String),
    #[error("cannot write config parameter `{name}`: {message}")]
    Write { name: String, message: String },
    #[error(
        "the config is {bytes} bytes; parameter `{name}` holds at most {max} \
         (Parameter Store's Advanced tier)"
    )]
    TooLarge {
        name: String,
        bytes: usize,
        max: usize,
    },
}

/// The most a config parameter holds: an Advanced parameter's 8 KB. A Standard one
/// (what a parameter made by hand is) holds 4 KB, less than the bundled config.
pub const CONFIG_PARAMETER_MAX_BYTES: usize = 8 * 1024;

/// Stores the config text as the SecureString parameter `name`, the one
/// `ConfigParameterName` points the functions at. Intelligent-Tiering makes it an
/// Advanced parameter once the text passes Standard's 4 KB (and keeps an Advanced one
/// Advanced, which cannot go back); a text over [`CONFIG_PARAMETER_MAX_BYTES`] is refused
/// before any call.
pub async fn put_config_parameter(
    client: &aws_sdk_ssm::Client,
    name: &str,
    text: &str,
) -> Result<(), ConfigSourceError> {
    if text.len() > CONFIG_PARAMETER_MAX_BYTES {
        return Err(ConfigSourceError::TooLarge {
            name: name.to_string(),
            bytes: text.len(),
            max: CONFIG_PARAMETER_MAX_BYTES,
        });
    }
    client
        .put_parameter()
        .name(name)
        .value(text)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .tier(aws_sdk_ssm::types::ParameterTier::IntelligentTiering)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| ConfigSourceError::Write {
            name: name.to_string(),
            message: DisplayErrorContext(&e).to_string(),
        })?;
    Ok(())
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

/// The config compiled into every function: the file the deploy pipeline validated.
pub const BUNDLED_CONFIG: &str = include_str!("../../../infra/quench.yaml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigLoadError {
    #[error("cannot read config file `{path}`: {message}")]
    File { path: String, message: String },
    #[error(transparent)]
    Parameter(#[from] ConfigSourceError),
    #[error(transparent)]
    Invalid(#[from] quench_core::config::ConfigError),
}

/// The config, read once per cold start: from the SSM parameter named by
/// `QUENCH_CONFIG_PARAMETER`, else the file at `QUENCH_CONFIG_FILE`, else
/// [`BUNDLED_CONFIG`]. An SSM client is built only when the parameter is used.
pub async fn load_config(sdk: &SdkConfig) -> Result<quench_core::config::Config, ConfigLoadError> {
    let text = if let Ok(name) = std::env::var("QUENCH_CONFIG_PARAMETER") {
        config_from_parameter(&aws_sdk_ssm::Client::new(sdk), &name).await?
    } else if let Ok(path) = std::env::var("QUENCH_CONFIG_FILE") {
        std::fs::read_to_string(&path).map_err(|e| ConfigLoadError::File {
            path,
            message: e.to_string(),
        })?
    } else {
        BUNDLED_CONFIG.to_string()
    };
    let config = quench_core::config::Config::parse(&text)?;
    for warning in config.warnings() {
        tracing::warn!(%warning, "config warning");
    }
    Ok(config)
}
