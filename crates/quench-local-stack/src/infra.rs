//! What the tests read from infra/: the SAM template (the functions, their IAM
//! statements, the table) and the state machine with its substitutions.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use serde_yaml_ng::Value;

use crate::{repo_root, StackError, REGION};

/// The deployed functions, by binary name (each is `crates/<name>`).
pub const FUNCTIONS: [&str; 4] = [
    "alarm-to-incident",
    "runbook-step",
    "chat-notifier",
    "escalation-ticker",
];

/// infra/template.yaml, parsed (intrinsics such as `!Ref` stay tagged values).
pub fn sam_template() -> Result<Value, StackError> {
    let path = repo_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| StackError::Template(format!("{}: {e}", path.display())))?;
    serde_yaml_ng::from_str(&text).map_err(|e| StackError::Template(e.to_string()))
}

/// Every resource of infra/template.yaml, by logical id.
pub fn sam_template_resources() -> Result<serde_yaml_ng::Mapping, StackError> {
    sam_template()?
        .get("Resources")
        .and_then(Value::as_mapping)
        .cloned()
        .ok_or_else(|| StackError::Template("no Resources".into()))
}

/// Every IAM statement the template may give the function built from `binary`: its
/// inline statements and those of the managed policies it names, both branches of each
/// `!If` taken (a condition only ever removes statements).
pub fn function_statements(binary: &str) -> Result<Vec<Value>, StackError> {
    let resources = sam_template_resources()?;
    let function = resources
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
        .ok_or_else(|| StackError::Template(format!("no function builds `{binary}`")))?;
    let mut statements = Vec::new();
    for policy in function["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(if_branches)
    {
        let document = match &policy {
            Value::Tagged(tagged) if tagged.tag == "Ref" => {
                let name = tagged.value.as_str().unwrap_or_default();
                let policy = resources.get(name).ok_or_else(|| {
                    StackError::Template(format!("{binary}'s policy `{name}` is not a resource"))
                })?;
                policy["Properties"]["PolicyDocument"].clone()
            }
            inline => inline.clone(),
        };
        statements.extend(
            document["Statement"]
                .as_sequence()
                .into_iter()
                .flatten()
                .flat_map(if_branches),
        );
    }
    Ok(statements)
}

/// The values `!If [condition, a, b]` may take (`AWS::NoValue` dropped); any other value
/// is itself.
pub(crate) fn if_branches(value: &Value) -> Vec<Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "If" => tagged
            .value
            .as_sequence()
            .map(|parts| parts.iter().skip(1).flat_map(if_branches).collect())
            .unwrap_or_default(),
        Value::Tagged(tagged)
            if tagged.tag == "Ref" && tagged.value.as_str() == Some("AWS::NoValue") =>
        {
            vec![]
        }
        other => vec![other.clone()],
    }
}

/// The actions of one IAM statement.
pub fn statement_actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(action) => vec![action.clone()],
        Value::Sequence(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    }
}

/// The IAM actions the template allows the function built from `binary`.
pub fn function_actions(binary: &str) -> Result<std::collections::BTreeSet<String>, StackError> {
    Ok(function_statements(binary)?
        .iter()
        .flat_map(statement_actions)
        .collect())
}

/// The IAM actions an API call needs, for an operation as the local stack names it
/// (`DynamoDB.GetItem`). A transaction needs the actions of its items: Quench's are puts.
pub fn iam_actions(operation: &str) -> Vec<String> {
    let (service, name) = operation.split_once('.').unwrap_or(("?", operation));
    let prefix = match service {
        "DynamoDB" => "dynamodb",
        "SSM" => "ssm",
        "EC2" => "ec2",
        "CloudWatch" => "cloudwatch",
        "SNS" => "sns",
        "SQS" => "sqs",
        "SecretsManager" => "secretsmanager",
        "SSMIncidents" => "ssm-incidents",
        other => other,
    };
    match (prefix, name) {
        ("dynamodb", "TransactWriteItems") => vec!["dynamodb:PutItem".to_string()],
        // An OpsItem created with tags (Quench tags its own) also needs the tagging grant.
        ("ssm", "CreateOpsItem") => vec![
            "ssm:CreateOpsItem".to_string(),
            "ssm:AddTagsToResource".to_string(),
        ],
        _ => vec![format!("{prefix}:{name}")],
    }
}

/// The `IncidentTable` resource's Properties from infra/template.yaml.
pub fn table_definition() -> Result<Value, StackError> {
    sam_template_properties("IncidentTable")
}

/// A resource's Properties from infra/template.yaml.
pub fn sam_template_properties(resource: &str) -> Result<Value, StackError> {
    sam_template_resources()?
        .get(resource)
        .and_then(|r| r.get("Properties"))
        .cloned()
        .ok_or_else(|| StackError::Template(format!("no Resources.{resource}.Properties")))
}

pub(crate) fn text(value: &Value, key: &str) -> Result<String, StackError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| StackError::Template(format!("missing {key}")))
}

pub(crate) fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Creates a table named `name` from the template's definition.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), StackError> {
    let definition = table_definition()?;
    let mut request = client.create_table().table_name(name);
    for attribute in list(&definition, "AttributeDefinitions") {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(attribute, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(
                    text(attribute, "AttributeType")?.as_str(),
                ))
                .build()
                .map_err(|e| StackError::Template(e.to_string()))?,
        );
    }
    for key in list(&definition, "KeySchema") {
        request = request.key_schema(
            KeySchemaElement::builder()
                .attribute_name(text(key, "AttributeName")?)
                .key_type(KeyType::from(text(key, "KeyType")?.as_str()))
                .build()
                .map_err(|e| StackError::Template(e.to_string()))?,
        );
    }
    for index in list(&definition, "GlobalSecondaryIndexes") {
        let mut gsi = GlobalSecondaryIndex::builder().index_name(text(index, "IndexName")?);
        for key in list(index, "KeySchema") {
            gsi = gsi.key_schema(
                KeySchemaElement::builder()
                    .attribute_name(text(key, "AttributeName")?)
                    .key_type(KeyType::from(text(key, "KeyType")?.as_str()))
                    .build()
                    .map_err(|e| StackError::Template(e.to_string()))?,
            );
        }
        let projection = &index["Projection"];
        let mut built = Projection::builder().projection_type(ProjectionType::from(
            text(projection, "ProjectionType")?.as_str(),
        ));
        for attribute in list(projection, "NonKeyAttributes") {
            built = built.non_key_attributes(attribute.as_str().unwrap_or_default());
        }
        request = request.global_secondary_indexes(
            gsi.projection(built.build())
                .build()
                .map_err(|e| StackError::Template(e.to_string()))?,
        );
    }
    request = request.billing_mode(BillingMode::from(
        text(&definition, "BillingMode")?.as_str(),
    ));
    request.send().await.map_err(|e| {
        StackError::Aws(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())
    })?;
    Ok(())
}

/// Account and ARNs the local stack uses for the functions the ASL names.
pub const ACCOUNT: &str = "123456789012";

pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// The ASL file from infra/statemachines with `${Name}` placeholders replaced, as SAM's
/// `DefinitionSubstitutions` does on deploy. A placeholder left unreplaced is an error.
pub fn state_machine_definition(
    file: &str,
    substitutions: &[(&str, String)],
) -> Result<String, StackError> {
    let path = repo_root().join("infra/statemachines").join(file);
    let mut text = std::fs::read_to_string(&path)
        .map_err(|e| StackError::Template(format!("{}: {e}", path.display())))?;
    for (name, value) in substitutions {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    if let Some(start) = text.find("${") {
        let rest = &text[start..];
        let end = rest.find('}').map_or(rest.len(), |i| i + 1);
        return Err(StackError::Template(format!(
            "{file}: no substitution for {}",
            &rest[..end]
        )));
    }
    Ok(text)
}

/// Whether `name` is referenced anywhere inside `value`: `!Ref name`, `!GetAtt name.X`,
/// or `${name}` / `${name.X}` in a `!Sub`.
pub fn references(value: &Value, name: &str) -> bool {
    match value {
        Value::Tagged(tagged) => match (tagged.tag.to_string().as_str(), &tagged.value) {
            ("!Ref", Value::String(target)) => target == name,
            ("!GetAtt", Value::String(target)) => target.split('.').next() == Some(name),
            ("!Sub", Value::String(text)) => {
                text.contains(&format!("${{{name}}}")) || text.contains(&format!("${{{name}."))
            }
            (_, inner) => references(inner, name),
        },
        Value::Mapping(map) => map.values().any(|v| references(v, name)),
        Value::Sequence(items) => items.iter().any(|v| references(v, name)),
        _ => false,
    }
}
