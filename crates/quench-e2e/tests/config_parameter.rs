//! The config parameter `make deploy CONFIG_PARAMETER=...` writes (`quench-op
//! put-config`), against moto: what is stored is what the functions read back, and a
//! config no parameter can hold is refused before anything is written.

use quench_aws::sdk::{
    config_from_parameter, put_config_parameter, ConfigSourceError, BUNDLED_CONFIG,
    CONFIG_PARAMETER_MAX_BYTES,
};
use quench_local_stack::Moto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_config_is_the_one_read_back_and_an_oversized_one_is_refused() {
    let moto = Moto::start().expect("moto starts");
    let ssm = aws_sdk_ssm::Client::new(&moto.sdk_config().await);

    put_config_parameter(&ssm, "/quench/config", BUNDLED_CONFIG)
        .await
        .expect("stored");
    let described = ssm.describe_parameters().send().await.expect("described");
    let parameter = described
        .parameters()
        .iter()
        .find(|p| p.name() == Some("/quench/config"))
        .expect("the parameter");
    assert_eq!(
        parameter.r#type(),
        Some(&aws_sdk_ssm::types::ParameterType::SecureString)
    );
    // The tier asked for (moto keeps it as sent): Parameter Store makes the parameter
    // Advanced once its value passes Standard's 4 KB, as the bundled config does.
    assert_eq!(
        parameter.tier(),
        Some(&aws_sdk_ssm::types::ParameterTier::IntelligentTiering)
    );
    let read = config_from_parameter(&ssm, "/quench/config")
        .await
        .expect("read back");
    assert_eq!(read, BUNDLED_CONFIG);

    // A second deploy overwrites it.
    let changed = format!("{BUNDLED_CONFIG}\n# changed\n");
    put_config_parameter(&ssm, "/quench/config", &changed)
        .await
        .expect("overwritten");
    let read = config_from_parameter(&ssm, "/quench/config")
        .await
        .expect("read back");
    assert_eq!(read, changed);

    let oversized = format!("{BUNDLED_CONFIG}{}", "#".repeat(CONFIG_PARAMETER_MAX_BYTES));
    let refused = put_config_parameter(&ssm, "/quench/too-big", &oversized)
        .await
        .expect_err("no parameter holds it");
    assert!(
        matches!(
            refused,
            ConfigSourceError::TooLarge { bytes, max, .. }
                if bytes == oversized.len() && max == CONFIG_PARAMETER_MAX_BYTES
        ),
        "{refused}"
    );
    assert!(
        config_from_parameter(&ssm, "/quench/too-big")
            .await
            .is_err(),
        "nothing was written"
    );
}
