//! Section 3c: what each function's share of the config costs at a cold start. Every
//! function parses and validates the whole file today; beside that, the sections each
//! one reads deserialized and the rest skipped (`IgnoredAny`: the YAML is still scanned,
//! nothing is built), and the scan alone, the floor of any YAML config.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use alarm_to_incident::BUNDLED_CONFIG;
use quench_core::chat::ChatConfig;
use quench_core::config::{Config, Plan, Route};
use quench_core::escalation::{Contact, EscalationPolicy};
use quench_core::oncall::Schedule;
use quench_core::runbook::Runbook;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;

use crate::{failed, say, BenchError};

/// The file's sections, each either deserialized (its type) or skipped (`IgnoredAny`).
#[expect(dead_code, reason = "built to be timed, never read")]
#[derive(Deserialize)]
#[serde(bound(
    deserialize = "P: Deserialize<'de> + Default, Ro: Deserialize<'de> + Default, \
    D: Deserialize<'de> + Default, Rb: Deserialize<'de> + Default, \
    Ch: Deserialize<'de> + Default, Co: Deserialize<'de> + Default, \
    S: Deserialize<'de> + Default, E: Deserialize<'de> + Default"
))]
struct Sections<P, Ro, D, Rb, Ch, Co, S, E> {
    version: u32,
    #[serde(default)]
    plans: P,
    #[serde(default)]
    routes: Ro,
    #[serde(default)]
    default_plan: D,
    #[serde(default)]
    runbooks: Rb,
    #[serde(default)]
    chat: Ch,
    #[serde(default)]
    contacts: Co,
    #[serde(default)]
    schedules: S,
    #[serde(default)]
    escalation_policies: E,
}

type Plans = BTreeMap<String, Plan>;
type Routes = Vec<Route>;
type DefaultPlan = Option<String>;
type Runbooks = BTreeMap<String, Runbook>;
type Contacts = BTreeMap<String, Contact>;
type Schedules = BTreeMap<String, Schedule>;
type Policies = BTreeMap<String, EscalationPolicy>;
type Skip = IgnoredAny;

const ROUNDS: u32 = 200;

/// Mean µs of deserializing the bundled config as `T`.
fn mean_us<T: DeserializeOwned>() -> Result<f64, BenchError> {
    black_box(serde_yaml_ng::from_str::<T>(BUNDLED_CONFIG).map_err(|e| failed(e.to_string()))?);
    let started = Instant::now();
    for _ in 0..ROUNDS {
        black_box(
            serde_yaml_ng::from_str::<T>(black_box(BUNDLED_CONFIG))
                .map_err(|e| failed(e.to_string()))?,
        );
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS))
}

pub fn run() -> Result<(), BenchError> {
    let started = Instant::now();
    for _ in 0..ROUNDS {
        black_box(Config::parse(black_box(BUNDLED_CONFIG)).map_err(|e| failed(e.to_string()))?);
    }
    let whole = started.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let deserializer = serde_yaml_ng::Deserializer::from_str(black_box(BUNDLED_CONFIG));
        black_box(
            serde_path_to_error::deserialize::<_, Config>(deserializer)
                .map_err(|e| failed(e.to_string()))?,
        );
    }
    let tracked = started.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
    let rows = [
        (
            "whole file, deserialized tracking field paths, not validated",
            tracked,
        ),
        (
            "whole file, deserialized, not validated",
            mean_us::<
                Sections<
                    Plans,
                    Routes,
                    DefaultPlan,
                    Runbooks,
                    ChatConfig,
                    Contacts,
                    Schedules,
                    Policies,
                >,
            >()?,
        ),
        (
            "alarm-to-incident: plans routes default_plan contacts schedules policies",
            mean_us::<
                Sections<Plans, Routes, DefaultPlan, Skip, Skip, Contacts, Schedules, Policies>,
            >()?,
        ),
        (
            "runbook-step: plans runbooks",
            mean_us::<Sections<Plans, Skip, Skip, Runbooks, Skip, Skip, Skip, Skip>>()?,
        ),
        (
            "chat-notifier: plans chat",
            mean_us::<Sections<Plans, Skip, Skip, Skip, ChatConfig, Skip, Skip, Skip>>()?,
        ),
        (
            "escalation-ticker: plans chat contacts schedules policies",
            mean_us::<Sections<Plans, Skip, Skip, Skip, ChatConfig, Contacts, Schedules, Policies>>(
            )?,
        ),
        (
            "YAML scan only (every section skipped)",
            mean_us::<IgnoredAny>()?,
        ),
    ];
    say(format!(
        "\n3c. The bundled config per function (in-process, mean of {ROUNDS}; {} bytes)\n   \
         {:<76} {:>8.1} µs",
        BUNDLED_CONFIG.len(),
        "Config::parse: whole file, deserialized and validated (every function today)",
        whole
    ));
    for (what, us) in rows {
        say(format!("   {what:<76} {us:>8.1} µs"));
    }
    Ok(())
}
