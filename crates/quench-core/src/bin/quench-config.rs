//! `quench-config validate FILE...` checks config files; `quench-config schema` prints
//! the JSON Schema generated from the config types.

use std::process::ExitCode;

use quench_core::config::Config;

const USAGE: &str = "usage: quench-config validate FILE... | quench-config schema";

#[allow(clippy::print_stdout, reason = "a command-line tool reports on stdout")]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((command, files)) if command == "validate" && !files.is_empty() => {
            let mut failed = false;
            for file in files {
                match std::fs::read_to_string(file) {
                    Err(e) => {
                        eprintln!("{file}: cannot read: {e}");
                        failed = true;
                    }
                    Ok(text) => match Config::parse(&text) {
                        Ok(config) => println!(
                            "{file}: valid ({} plans, {} routes, default plan: {})",
                            config.plans.len(),
                            config.routes.len(),
                            config.default_plan.as_deref().unwrap_or("none")
                        ),
                        Err(e) => {
                            eprintln!("{file}: {e}");
                            failed = true;
                        }
                    },
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
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
