use std::sync::Arc;

use lambda_runtime::{run, service_fn, tracing, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let handler = Arc::new(escalation_ticker::init_from_env().await?);
    run(service_fn(move |event| {
        escalation_ticker::invoke(handler.clone(), event)
    }))
    .await
}
