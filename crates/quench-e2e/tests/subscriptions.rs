//! The pages topic's email subscriptions follow the config's contacts: `quench-op
//! sync-subscriptions`' plan and apply against moto's SNS.

use std::collections::BTreeMap;

use quench_aws::paging::{
    apply_subscription_changes, contact_filter_policy, email_subscriptions, plan_subscriptions,
    SubscriptionChange,
};
use quench_aws::sdk::BUNDLED_CONFIG;
use quench_core::config::Config;
use quench_local_stack::incident_response::create_topic;
use quench_local_stack::Moto;

#[tokio::test]
async fn subscriptions_follow_the_contacts_and_a_second_sync_changes_nothing() {
    let moto = Moto::start().expect("moto");
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config().await);
    let topic = create_topic(&sns, "quench-pages").await.expect("topic");
    // Left from an earlier config: alice filtered to someone else, and a contact since
    // removed. Neither may keep receiving pages.
    for (endpoint, contacts) in [
        ("alice@example.com", vec!["mallory".to_string()]),
        ("gone@example.com", vec!["gone".to_string()]),
    ] {
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("email")
            .endpoint(endpoint)
            .attributes("FilterPolicy", contact_filter_policy(&contacts))
            .return_subscription_arn(true)
            .send()
            .await
            .expect("subscribe");
    }
    let config = Config::parse(BUNDLED_CONFIG).expect("bundled config");
    let emails: BTreeMap<String, Vec<String>> =
        config
            .contacts
            .iter()
            .fold(BTreeMap::new(), |mut by_email, (name, contact)| {
                if let Some(email) = &contact.email {
                    by_email
                        .entry(email.clone())
                        .or_insert_with(Vec::new)
                        .push(name.clone());
                }
                by_email
            });
    assert!(emails.len() >= 3, "{emails:?}");

    let existing = email_subscriptions(&sns, &topic).await.expect("list");
    let changes = plan_subscriptions(&existing, &config.contacts);
    let count =
        |wanted: fn(&SubscriptionChange) -> bool| changes.iter().filter(|c| wanted(c)).count();
    assert_eq!(
        count(|c| matches!(c, SubscriptionChange::Unsubscribe { .. })),
        1,
        "{changes:?}"
    );
    assert_eq!(
        count(|c| matches!(c, SubscriptionChange::Refilter { .. })),
        1,
        "{changes:?}"
    );
    assert_eq!(
        count(|c| matches!(c, SubscriptionChange::Subscribe { .. })),
        emails.len() - 1,
        "{changes:?}"
    );
    apply_subscription_changes(&sns, &topic, &changes)
        .await
        .expect("apply");

    let after = email_subscriptions(&sns, &topic).await.expect("list again");
    let found: BTreeMap<String, Vec<String>> = after
        .iter()
        .map(|s| (s.endpoint.clone(), s.contacts.clone()))
        .collect();
    assert_eq!(
        found, emails,
        "one subscription per address, filtered to its contacts"
    );
    let again = plan_subscriptions(&after, &config.contacts);
    assert!(
        again
            .iter()
            .all(|c| matches!(c, SubscriptionChange::Keep { pending: false, .. })),
        "{again:?}"
    );
}
