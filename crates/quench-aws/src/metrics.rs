//! Metrics in CloudWatch embedded metric format: one JSON line on stdout per
//! observation, which Lambda's log delivery turns into metrics with no API call and no
//! extra latency. The names are the figures Incident Manager published.

use chrono::{DateTime, Utc};
use quench_core::incident::{DecisionKind, IncidentRecord, IncidentStatus};
use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "Quench";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One EMF record: the metrics share the dimensions given, as one dimension set.
pub fn record(
    at: DateTime<Utc>,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, Unit)],
) -> Value {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>()],
                "Metrics": metrics
                    .iter()
                    .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, value) in dimensions {
        root.insert((*name).to_string(), json!(value));
    }
    for (name, value, _) in metrics {
        root.insert((*name).to_string(), json!(value));
    }
    Value::Object(root)
}

/// Writes the record as one line on stdout, where Lambda's EMF support reads it; only
/// inside a Lambda function.
#[allow(
    clippy::print_stdout,
    reason = "EMF is read from the function's stdout"
)]
pub fn emit(at: DateTime<Utc>, dimensions: &[(&str, &str)], metrics: &[(&str, f64, Unit)]) {
    // Elsewhere (tests, benchmarks, commands) stdout is not a metrics pipe.
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        println!("{}", record(at, dimensions, metrics));
    }
}

/// The incident figures of a decision that was written: opened, resolved (with time to
/// resolve), first acknowledged (with time to acknowledge), by plan and impact.
pub fn incident_metrics(kind: DecisionKind, incident: &IncidentRecord, now: DateTime<Utc>) {
    let impact = incident.impact.to_string();
    let dimensions = [
        ("Plan", incident.plan.as_str()),
        ("Impact", impact.as_str()),
    ];
    let since_open =
        |at: DateTime<Utc>| (at - incident.created_at).num_milliseconds() as f64 / 1000.0;
    let figures = match kind {
        DecisionKind::Opened | DecisionKind::Reopened => {
            vec![("IncidentsOpened", 1.0, Unit::Count)]
        }
        DecisionKind::Resolved => {
            let mut figures = vec![("IncidentsResolved", 1.0, Unit::Count)];
            if let Some(resolved_at) = incident.resolved_at {
                figures.push(("TimeToResolve", since_open(resolved_at), Unit::Seconds));
            }
            figures
        }
        DecisionKind::Acknowledged
            if incident.status == IncidentStatus::Acknowledged
                && incident.acknowledged_at == Some(now) =>
        {
            vec![("TimeToAcknowledge", since_open(now), Unit::Seconds)]
        }
        _ => return,
    };
    emit(now, &dimensions, &figures);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_declares_every_metric_and_dimension_it_carries() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let record = record(
            at,
            &[("Plan", "cpu"), ("Impact", "2")],
            &[
                ("IncidentsResolved", 1.0, Unit::Count),
                ("TimeToResolve", 90.0, Unit::Seconds),
            ],
        );
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Quench");
        assert_eq!(directive["Dimensions"], json!([["Plan", "Impact"]]));
        assert_eq!(
            directive["Metrics"][1],
            json!({"Name": "TimeToResolve", "Unit": "Seconds"})
        );
        assert_eq!(record["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(
            (record["Plan"].clone(), record["TimeToResolve"].clone()),
            (json!("cpu"), json!(90.0))
        );
    }
}
