//! The AWS resources a config makes Quench touch, as the IAM resource patterns the
//! stack's roles are scoped to. The template cannot read the config, so the deploy
//! pipeline passes these as parameters (`quench-config deploy-parameters`), and a test
//! keeps the template's defaults equal to what the bundled config needs.
//!
//! Region and account are `*`: a role is only ever used in its own stack's account and
//! region, and AWS-owned documents have no account in their ARN at all.

use std::collections::BTreeSet;

use crate::chat::{Channel, SecretRef};
use crate::config::Config;
use crate::runbook::Action;

/// One template parameter: its name and the ARN patterns it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployParameter {
    pub name: &'static str,
    pub values: Vec<String>,
}

impl DeployParameter {
    /// The value as CloudFormation takes a `CommaDelimitedList` (or a `String` flag).
    pub fn value(&self) -> String {
        self.values.join(",")
    }
}

/// Every config-derived parameter of infra/template.yaml, in the template's order.
pub fn deploy_parameters(config: &Config, partition: &str) -> Vec<DeployParameter> {
    let mut run_command = BTreeSet::new();
    let mut automation = BTreeSet::new();
    for step in config.runbooks.values().flat_map(|r| &r.steps) {
        match &step.action {
            Action::RunCommand(command) => {
                run_command.insert(document_arn(partition, &command.document));
            }
            Action::Automation(run) => {
                let name = document_name(&run.document);
                automation.insert(document_arn(partition, &run.document));
                automation.insert(format!(
                    "arn:{partition}:ssm:*:*:automation-definition/{name}:*"
                ));
            }
            _ => {}
        }
    }

    let mut topics = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    for channel in config.chat.channels.values() {
        let refs: Vec<&SecretRef> = match channel {
            Channel::Slack { token, .. } => vec![token],
            Channel::SlackWebhook { url } | Channel::Teams { url } | Channel::Chime { url } => {
                vec![url]
            }
            Channel::Webhook { url, signing_key } => {
                std::iter::once(url).chain(signing_key.as_ref()).collect()
            }
            Channel::Chatbot { topic_arn } => {
                topics.insert(topic_arn.clone());
                vec![]
            }
        };
        secrets.extend(refs.into_iter().map(|r| secret_arn(partition, r)));
    }

    let mut incident_manager = BTreeSet::new();
    let mut ops_center = false;
    for plan in config.plans.values() {
        if let Some(im) = &plan.mirror.incident_manager {
            incident_manager.insert(im.response_plan_arn.clone());
            // Incident records are named after the response plan that started them.
            if let Some((prefix, plan_name)) = im.response_plan_arn.split_once(":response-plan/") {
                incident_manager.insert(format!("{prefix}:incident-record/{plan_name}/*"));
            }
        }
        ops_center |= plan.mirror.ops_center.is_some();
    }

    let list = |name, values: BTreeSet<String>| DeployParameter {
        name,
        values: values.into_iter().collect(),
    };
    vec![
        list("RunCommandDocumentArns", run_command),
        list("AutomationDocumentArns", automation),
        list("ChatTopicArns", topics),
        list("ChatSecretArns", secrets),
        list("IncidentManagerArns", incident_manager),
        DeployParameter {
            name: "OpsCenterMirror",
            values: vec![ops_center.to_string()],
        },
    ]
}

fn document_name(document: &str) -> &str {
    document.rsplit('/').next().unwrap_or(document)
}

fn document_arn(partition: &str, document: &str) -> String {
    if document.starts_with("arn:") {
        document.to_string()
    } else {
        format!("arn:{partition}:ssm:*:*:document/{document}")
    }
}

fn secret_arn(partition: &str, secret: &SecretRef) -> String {
    match secret {
        SecretRef::SecretsManager(arn) if arn.starts_with("arn:") => arn.clone(),
        // Secrets Manager appends `-` and six random characters to the name.
        SecretRef::SecretsManager(name) => {
            format!("arn:{partition}:secretsmanager:*:*:secret:{name}-??????")
        }
        SecretRef::Ssm(arn) if arn.starts_with("arn:") => arn.clone(),
        SecretRef::Ssm(name) => format!(
            "arn:{partition}:ssm:*:*:parameter/{}",
            name.trim_start_matches('/')
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameters(yaml: &str) -> Vec<(&'static str, String)> {
        let config = Config::parse(yaml).expect("valid config");
        deploy_parameters(&config, "aws")
            .into_iter()
            .map(|p| (p.name, p.value()))
            .collect()
    }

    #[test]
    fn derives_every_resource_a_config_touches() {
        let yaml = r#"
version: 1
default_plan: web
plans:
  web:
    impact: 2
    runbook: fix
    chat: [slack, bot, hook]
    mirror:
      incident_manager: { response_plan_arn: "arn:aws:ssm-incidents::111122223333:response-plan/web" }
      ops_center: {}
runbooks:
  fix:
    - id: look
      run_command: { commands: [uptime] }
    - id: custom
      run_command:
        document: arn:aws:ssm:eu-west-1:111122223333:document/Custom
        parameters: { x: ["1"] }
    - id: restart
      automation: { document: AWS-RestartEC2Instance }
chat:
  channels:
    slack: { slack: { token: { secrets_manager: quench/slack }, channel: C1 } }
    bot: { chatbot: { topic_arn: "arn:aws:sns:eu-west-1:111122223333:bot" } }
    hook:
      webhook:
        url: { ssm: /quench/hook-url }
        signing_key: { secrets_manager: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:key-AbCdEf" }
"#;
        assert_eq!(
            parameters(yaml),
            vec![
                (
                    "RunCommandDocumentArns",
                    "arn:aws:ssm:*:*:document/AWS-RunShellScript,\
                     arn:aws:ssm:eu-west-1:111122223333:document/Custom"
                        .to_string()
                ),
                (
                    "AutomationDocumentArns",
                    "arn:aws:ssm:*:*:automation-definition/AWS-RestartEC2Instance:*,\
                     arn:aws:ssm:*:*:document/AWS-RestartEC2Instance"
                        .to_string()
                ),
                (
                    "ChatTopicArns",
                    "arn:aws:sns:eu-west-1:111122223333:bot".to_string()
                ),
                (
                    "ChatSecretArns",
                    "arn:aws:secretsmanager:*:*:secret:quench/slack-??????,\
                     arn:aws:secretsmanager:eu-west-1:111122223333:secret:key-AbCdEf,\
                     arn:aws:ssm:*:*:parameter/quench/hook-url"
                        .to_string()
                ),
                (
                    "IncidentManagerArns",
                    "arn:aws:ssm-incidents::111122223333:incident-record/web/*,\
                     arn:aws:ssm-incidents::111122223333:response-plan/web"
                        .to_string()
                ),
                ("OpsCenterMirror", "true".to_string()),
            ]
        );
    }

    #[test]
    fn a_config_without_runbooks_chat_or_mirrors_needs_none() {
        let yaml = "version: 1\ndefault_plan: quiet\nplans:\n  quiet: { impact: 3 }\n";
        assert_eq!(
            parameters(yaml),
            vec![
                ("RunCommandDocumentArns", String::new()),
                ("AutomationDocumentArns", String::new()),
                ("ChatTopicArns", String::new()),
                ("ChatSecretArns", String::new()),
                ("IncidentManagerArns", String::new()),
                ("OpsCenterMirror", "false".to_string()),
            ]
        );
    }
}
