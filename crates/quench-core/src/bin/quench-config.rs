//! `quench-config validate FILE...` checks config files; `quench-config schema` prints
//! the JSON Schema generated from the config types; `quench-config oncall FILE SCHEDULE
//! [DAYS]` prints who a schedule has on call from now for DAYS days (default 7);
//! `quench-config deploy-parameters FILE [PARTITION]` prints the template parameters
//! (`Name="value"`, one per line) that scope the stack's roles to what FILE uses.

use std::process::ExitCode;

use chrono::{DateTime, Duration, Utc};
use quench_core::config::Config;
use quench_core::deploy::deploy_parameters;

const USAGE: &str = "usage: quench-config validate FILE... | quench-config schema | \
                     quench-config oncall FILE SCHEDULE [DAYS] | \
                     quench-config deploy-parameters FILE [PARTITION]";
/// DAYS is at most this: a longer listing is a mistake, not a question.
const MAX_DAYS: i64 = 3660;

#[allow(clippy::print_stdout, reason = "a command-line tool reports on stdout")]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((command, files)) if command == "validate" && !files.is_empty() => {
            let mut failed = false;
            for file in files {
                match read_config(file) {
                    Ok(config) => {
                        println!(
                            "{file}: valid ({} plans, {} routes, {} runbooks, {} contacts, \
                             {} schedules, {} escalation policies, default plan: {})",
                            config.plans.len(),
                            config.routes.len(),
                            config.runbooks.len(),
                            config.contacts.len(),
                            config.schedules.len(),
                            config.escalation_policies.len(),
                            config.default_plan.as_deref().unwrap_or("none")
                        );
                        // Worth a change, not a failed deploy.
                        for warning in config.warnings() {
                            eprintln!("{file}: warning: {warning}");
                        }
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        failed = true;
                    }
                }
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Some((command, [])) if command == "schema" => {
            match serde_json::to_string_pretty(&Config::json_schema()) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cannot render schema: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some((command, [file, schedule, rest @ ..])) if command == "oncall" && rest.len() <= 1 => {
            let days = match rest.first().map(|d| d.parse::<i64>()) {
                None => 7,
                Some(Ok(days)) if (1..=MAX_DAYS).contains(&days) => days,
                Some(_) => {
                    eprintln!("DAYS is a whole number of days from 1 to {MAX_DAYS}\n{USAGE}");
                    return ExitCode::from(2);
                }
            };
            match oncall(file, schedule, days, Utc::now()) {
                Ok(lines) => {
                    for line in lines {
                        println!("{line}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some((command, [file, rest @ ..])) if command == "deploy-parameters" && rest.len() <= 1 => {
            let partition = rest.first().map_or("aws", String::as_str);
            match read_config(file) {
                Ok(config) => {
                    for parameter in deploy_parameters(&config, partition) {
                        // Quoted, so an empty list survives `sam deploy --parameter-overrides`.
                        println!("{}=\"{}\"", parameter.name, parameter.value());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The config in `file`, or what is wrong with it, naming the file.
fn read_config(file: &str) -> Result<Config, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: cannot read: {e}"))?;
    Config::parse(&text).map_err(|e| format!("{file}: {e}"))
}

/// The lines `oncall` prints: a heading, then one line per shift from `now` for `days`
/// days, in the schedule's zone.
fn oncall(file: &str, name: &str, days: i64, now: DateTime<Utc>) -> Result<Vec<String>, String> {
    let config = read_config(file)?;
    let schedule = config.schedules.get(name).ok_or_else(|| {
        let known: Vec<&str> = config.schedules.keys().map(String::as_str).collect();
        if known.is_empty() {
            format!("{file}: no schedule is named `{name}`: the file has no schedules")
        } else {
            format!(
                "{file}: no schedule is named `{name}` (schedules: {})",
                known.join(", ")
            )
        }
    })?;
    let mut lines = vec![format!(
        "schedule `{name}` ({}), {days} day{} from {}:",
        schedule.time_zone().name(),
        if days == 1 { "" } else { "s" },
        schedule.local_time(now)
    )];
    lines.extend(schedule.listing(now, now + Duration::days(days)));
    Ok(lines)
}
