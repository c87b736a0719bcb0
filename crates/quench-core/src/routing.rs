//! Which plan an alarm change belongs to, and which incident it dedupes into.

use crate::alarm::AlarmChange;
use crate::config::file::Config;
use crate::config::plan::{Conditions, Dedupe, Plan};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("no route matches alarm `{alarm}` and the config has no default_plan")]
    NoPlan { alarm: String },
}

#[derive(Debug, Clone, Copy)]
pub struct Routed<'a> {
    pub plan_name: &'a str,
    pub plan: &'a Plan,
    /// Index of the route that matched; `None` when the default plan was used.
    pub route: Option<usize>,
}

impl Conditions {
    pub fn matches(&self, change: &AlarmChange) -> bool {
        let metric_matches = match (&self.namespace, &self.metric) {
            (None, None) => true,
            (namespace, metric) => change.metrics.iter().any(|m| {
                namespace.as_ref().is_none_or(|g| g.matches(&m.namespace))
                    && metric.as_ref().is_none_or(|g| g.matches(&m.name))
            }),
        };
        if !metric_matches {
            return false;
        }
        if let Some(glob) = &self.alarm_name {
            if !glob.matches(&change.alarm_name) {
                return false;
            }
        }
        if !self.dimensions.is_empty() {
            let dimensions = change.dimensions();
            let all = self
                .dimensions
                .iter()
                .all(|(k, g)| dimensions.get(k).is_some_and(|v| g.matches(v)));
            if !all {
                return false;
            }
        }
        self.tags
            .iter()
            .all(|(k, g)| change.tags.get(k).is_some_and(|v| g.matches(v)))
    }
}

impl Config {
    /// First matching route wins; then the default plan; otherwise the alarm is refused.
    pub fn route(&self, change: &AlarmChange) -> Result<Routed<'_>, RoutingError> {
        for (index, route) in self.routes.iter().enumerate() {
            if route.conditions.matches(change) {
                if let Some((name, plan)) = self.plans.get_key_value(&route.plan) {
                    return Ok(Routed {
                        plan_name: name,
                        plan,
                        route: Some(index),
                    });
                }
            }
        }
        self.default_plan
            .as_ref()
            .and_then(|name| self.plans.get_key_value(name))
            .map(|(name, plan)| Routed {
                plan_name: name,
                plan,
                route: None,
            })
            .ok_or_else(|| RoutingError::NoPlan {
                alarm: change.alarm_name.clone(),
            })
    }
}

impl Routed<'_> {
    /// The identity of "the same problem". Keys carry the plan name where the plan
    /// groups alarms, so two plans never share an incident by accident.
    pub fn dedup_key(&self, change: &AlarmChange) -> String {
        match &self.plan.dedupe {
            Dedupe::Alarm => format!("alarm:{}", change.series_key()),
            Dedupe::Plan => format!("plan:{}", self.plan_name),
            Dedupe::Dimensions(keys) => {
                let dimensions = change.dimensions();
                let values: Option<Vec<String>> = keys
                    .iter()
                    .map(|k| dimensions.get(k).map(|v| format!("{k}={v}")))
                    .collect();
                match values {
                    Some(values) => format!("dims:{}:{}", self.plan_name, values.join(",")),
                    // An alarm without the grouping dimensions cannot be grouped; it
                    // stays its own incident rather than joining an unrelated one.
                    None => format!("alarm:{}", change.series_key()),
                }
            }
        }
    }
}
