//! What the SAM template (infra/template.yaml) deploys besides the roles: the table that
//! is the system of record, the topics AWS services publish to and their key, the log
//! groups, and the config parameter `make deploy` writes.

use quench_local_stack::{
    function_statements, references, repo_root, sam_template_resources, statement_actions,
};
use serde_yaml_ng::{Mapping, Value};

fn resources() -> Mapping {
    sam_template_resources().expect("template resources")
}

fn of_type<'a>(resources: &'a Mapping, kind: &str) -> Vec<(&'a str, &'a Value)> {
    resources
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(id, resource)| (id.as_str().unwrap_or_default(), resource))
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A stack deletion, or an update that replaces the table, must not take every incident's
/// record with it.
#[test]
fn the_incident_table_survives_a_stack_deletion_and_a_replacement() {
    let resources = resources();
    let table = &resources["IncidentTable"];
    assert_eq!(
        table["DeletionPolicy"].as_str(),
        Some("Retain"),
        "{table:?}"
    );
    assert_eq!(
        table["UpdateReplacePolicy"].as_str(),
        Some("Retain"),
        "{table:?}"
    );
    assert_eq!(
        table["Properties"]["DeletionProtectionEnabled"].as_bool(),
        Some(true),
        "{table:?}"
    );
    let readme = read("README.md");
    for step in ["--no-deletion-protection-enabled", "delete-table"] {
        assert!(
            readme.contains(step),
            "README does not say how to delete the table on purpose (`{step}`)"
        );
    }
}

/// The topics an AWS service publishes to itself, with the service principal that
/// publishes: alarm actions (CloudWatch) and EventBridge rule targets (EventBridge).
fn service_published_topics(resources: &Mapping) -> Vec<(&str, &'static str)> {
    let topics = of_type(resources, "AWS::SNS::Topic");
    let mut published = Vec::new();
    for (_, alarm) in of_type(resources, "AWS::CloudWatch::Alarm") {
        for actions in ["AlarmActions", "OKActions", "InsufficientDataActions"] {
            for (topic, _) in &topics {
                if references(&alarm["Properties"][actions], topic) {
                    published.push((*topic, "cloudwatch.amazonaws.com"));
                }
            }
        }
    }
    for (_, rule) in of_type(resources, "AWS::Events::Rule") {
        for (topic, _) in &topics {
            if references(&rule["Properties"]["Targets"], topic) {
                published.push((*topic, "events.amazonaws.com"));
            }
        }
    }
    published.sort_unstable();
    published.dedup();
    published
}

/// The AWS::KMS::Key a topic's `KmsMasterKeyId` names, directly or through an alias of
/// the template; `None` for anything else (an AWS managed key such as `alias/aws/sns`).
fn topic_key<'a>(resources: &'a Mapping, topic: &str) -> Option<(&'a str, &'a Value)> {
    let key_id = &resources[topic]["Properties"]["KmsMasterKeyId"];
    let keys = of_type(resources, "AWS::KMS::Key");
    let direct = keys.iter().find(|(key, _)| references(key_id, key));
    let aliased = || {
        of_type(resources, "AWS::KMS::Alias")
            .into_iter()
            .filter(|(alias, _)| references(key_id, alias))
            .find_map(|(_, alias)| {
                keys.iter()
                    .find(|(key, _)| references(&alias["Properties"]["TargetKeyId"], key))
            })
    };
    direct.or_else(aliased).copied()
}

fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(text) => vec![text.as_str()],
        Value::Sequence(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// What a publisher needs of a topic's key: SNS encrypts each message with a data key.
fn grants_publishing(actions: &[&str]) -> bool {
    actions.contains(&"kms:Decrypt")
        && actions
            .iter()
            .any(|a| *a == "kms:GenerateDataKey*" || *a == "kms:GenerateDataKey")
}

/// CloudWatch alarms cannot publish to a topic under the AWS managed `alias/aws/sns` key,
/// whose policy no one can change to let them; a key of the stack's own must say so.
#[test]
fn every_topic_a_service_publishes_to_has_a_key_that_lets_it() {
    let resources = resources();
    let published = service_published_topics(&resources);
    assert!(
        published
            .iter()
            .any(|(topic, _)| *topic == "OpsAlertsTopic"),
        "{published:?}"
    );
    for (topic, principal) in &published {
        let Some((key_id, key)) = topic_key(&resources, topic) else {
            panic!(
                "{topic} is published to by {principal} but encrypted with {:?}, not a key of \
                 this template: the service cannot use it and nothing is delivered",
                resources[*topic]["Properties"]["KmsMasterKeyId"]
            );
        };
        let properties = &key["Properties"];
        assert_eq!(
            properties["EnableKeyRotation"].as_bool(),
            Some(true),
            "{key_id}"
        );
        let statements = properties["KeyPolicy"]["Statement"]
            .as_sequence()
            .expect("key policy statements");
        let allows = |statement: &&Value| statement["Effect"].as_str() == Some("Allow");
        assert!(
            statements.iter().filter(allows).any(|s| {
                references(&s["Principal"]["AWS"], "AWS::AccountId")
                    && strings(&s["Action"]).contains(&"kms:*")
            }),
            "{key_id}: the account keeps administering its key"
        );
        let service = statements
            .iter()
            .filter(allows)
            .find(|s| strings(&s["Principal"]["Service"]).contains(principal))
            .unwrap_or_else(|| panic!("{key_id}'s policy does not name {principal} ({topic})"));
        assert!(
            grants_publishing(&strings(&service["Action"])),
            "{key_id}: {principal} needs kms:Decrypt and kms:GenerateDataKey*"
        );
        // AWS documents the source conditions for CloudWatch's use of a key; EventBridge
        // sends none to KMS, so conditioning its statement would drop every event.
        if *principal == "cloudwatch.amazonaws.com" {
            let condition = serde_yaml_ng::to_string(&service["Condition"]).unwrap_or_default();
            assert!(
                condition.contains("aws:SourceAccount"),
                "{key_id}: {condition}"
            );
        }
        assert!(
            of_type(&resources, "AWS::KMS::Alias")
                .iter()
                .any(|(_, alias)| references(&alias["Properties"]["TargetKeyId"], key_id)),
            "{key_id} has no alias"
        );
        // A function that publishes to the topic encrypts with the key too.
        for (function, definition) in of_type(&resources, "AWS::Serverless::Function") {
            let binary = definition["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .expect("binary");
            let statements = function_statements(binary).expect("statements");
            let publishes = statements.iter().any(|s| {
                statement_actions(s).contains(&"sns:Publish".to_string())
                    && references(&s["Resource"], topic)
            });
            let may_encrypt = statements.iter().any(|s| {
                let actions = statement_actions(s);
                let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
                grants_publishing(&actions) && references(&s["Resource"], key_id)
            });
            assert!(
                !publishes || may_encrypt,
                "{function} publishes to {topic} without kms:Decrypt and kms:GenerateDataKey on {key_id}"
            );
        }
    }
}

/// The template's log groups set each function's retention. Were a log group created
/// after its function (by naming it), a first invocation in between (the schedule, an
/// alarm through the state machine) would make Lambda create the group itself, and the
/// stack's own LogGroup would then fail as already existing. A function that names its
/// log group (`LoggingConfig`) is created after it, and every trigger after the function.
#[test]
fn no_trigger_can_invoke_a_function_before_its_log_group_exists() {
    let resources = resources();
    let log_groups = of_type(&resources, "AWS::Logs::LogGroup");
    for (function, definition) in of_type(&resources, "AWS::Serverless::Function") {
        let properties = &definition["Properties"];
        let logging = &properties["LoggingConfig"]["LogGroup"];
        let Some((group, _)) = log_groups
            .iter()
            .find(|(group, _)| references(logging, group))
        else {
            panic!(
                "{function} does not name its log group (LoggingConfig.LogGroup), so nothing \
                 orders the group before the function and its triggers"
            );
        };
        for (other, resource) in &resources {
            let other = other.as_str().unwrap_or_default();
            assert!(
                other != *group || !references(resource, function),
                "{group} names {function}: a circle, or the function first"
            );
        }
    }
}

/// `ConfigParameterName` names a parameter the functions read at a cold start; a
/// parameter made by hand is Standard tier, which holds 4,096 bytes, less than the
/// bundled config. `make deploy` writes it, in a tier that holds the config.
#[test]
fn make_deploy_writes_the_config_parameter_in_a_tier_that_holds_the_bundled_config() {
    let makefile = read("Makefile");
    let recipe = makefile
        .split("\ndeploy:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("a deploy target");
    let size = quench_aws::sdk::BUNDLED_CONFIG.len();
    assert!(
        recipe.contains("put-config $(CONFIG_PARAMETER) $(CONFIG)")
            && recipe.contains("ConfigParameterName=$(CONFIG_PARAMETER)"),
        "make deploy does not write the config parameter; by hand it is a Standard \
         parameter of at most 4096 bytes, and infra/quench.yaml is {size} bytes"
    );
    let max = quench_aws::sdk::CONFIG_PARAMETER_MAX_BYTES;
    assert!(
        size <= max,
        "infra/quench.yaml is {size} bytes; the config parameter holds {max}"
    );
    let readme = read("README.md");
    assert!(
        readme.contains("CONFIG_PARAMETER="),
        "README does not say how to deploy with the config in a parameter"
    );
}
