//! The cold-start baseline: `cargo lambda new`'s function reduced to an echo, on the
//! workspace's lambda_runtime and tokio, built with the same release profile.

use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
