//! Every SDK call is bounded: an endpoint that accepts the connection and never answers
//! costs a call its timeout, not the function's.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{Credentials, Region};
use quench_aws::sdk::sdk_config;

#[tokio::test]
async fn a_call_to_an_endpoint_that_never_answers_ends_in_a_timeout() {
    // Accepts connections (the kernel does, from the backlog) and never reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", silent.local_addr().expect("addr"));
    let shared = sdk_config("timeouts-test").await;
    let config = aws_sdk_dynamodb::config::Builder::from(&shared)
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let started = Instant::now();
    let call = client.describe_table().table_name("quench").send();
    let outcome = tokio::time::timeout(Duration::from_secs(90), call)
        .await
        .expect("the SDK gave up by itself");
    let error = outcome.expect_err("nothing answered");
    let text = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&error));
    assert!(
        text.contains("timeout") || text.contains("timed out"),
        "{text}"
    );
    println!("gave up after {:?}", started.elapsed());
    drop(silent);
}
