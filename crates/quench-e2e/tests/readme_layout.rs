//! The README's table of what is where names only paths that exist, and every workspace
//! member among them; so does ARCHITECTURE.md's code map. No local stack needed.

use std::path::Path;

use quench_local_stack::repo_root;

const HEADING: &str = "## What is here";

/// The paths (relative to the repository root) the first column of the README's layout
/// table names, each in backticks.
fn layout_paths(readme: &str) -> Vec<String> {
    let table = readme
        .split_once(HEADING)
        .map(|(_, rest)| rest)
        .expect("the README has a `## What is here` section");
    let section = table.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter(|line| line.starts_with('|'))
        .skip(2) // the header and its separator
        .map(|row| {
            let cell = row.split('|').nth(1).unwrap_or_default().trim();
            cell.strip_prefix('`')
                .and_then(|cell| cell.strip_suffix('`'))
                .unwrap_or_else(|| panic!("the row `{row}` names no `path`"))
                .to_string()
        })
        .collect()
}

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("README.md")
}

#[test]
fn every_path_the_readme_layout_names_exists() {
    let root = repo_root();
    let paths = layout_paths(&readme());
    assert!(
        paths.len() > 10,
        "the layout table has {} rows",
        paths.len()
    );
    let missing: Vec<_> = paths
        .iter()
        .filter(|path| !root.join(path).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's layout names paths that do not exist under {}: {missing:?}",
        root.display()
    );
}

#[test]
fn every_workspace_member_is_in_the_readme_layout() {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(members, _)| members)
        .expect("workspace members");
    let members: Vec<_> = members
        .split('"')
        .skip(1)
        .step_by(2)
        .map(Path::new)
        .collect();
    assert!(!members.is_empty(), "no workspace members in Cargo.toml");
    let paths = layout_paths(&readme());
    let missing: Vec<_> = members
        .iter()
        .filter(|member| !paths.iter().any(|path| Path::new(path) == **member))
        .collect();
    assert!(
        missing.is_empty(),
        "workspace members missing from README.md's layout: {missing:?}"
    );
}

/// ARCHITECTURE.md's code map: each `### ` section of it, the folder its paths are
/// relative to, and the paths its tables' first column names (a cell may name several).
fn architecture_paths() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(repo_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let map = text
        .split_once("## Code map")
        .and_then(|(_, rest)| rest.split("\n## ").next())
        .expect("ARCHITECTURE.md has a `## Code map` section");
    let mut found = Vec::new();
    for section in map.split("\n### ").skip(1) {
        let heading = section.lines().next().unwrap_or_default();
        let base = match heading {
            h if h.starts_with("quench-core") => "crates/quench-core/src",
            h if h.starts_with("quench-aws") => "crates/quench-aws/src",
            _ => "",
        };
        for row in section.lines().filter(|l| l.starts_with('|')).skip(2) {
            let cell = row.split('|').nth(1).unwrap_or_default();
            for path in cell.split('`').skip(1).step_by(2) {
                found.push((base.to_string(), path.to_string()));
            }
        }
    }
    found
}

#[test]
fn every_path_the_architecture_code_map_names_exists() {
    let root = repo_root();
    let paths = architecture_paths();
    assert!(paths.len() > 30, "the code map names {} paths", paths.len());
    let missing: Vec<_> = paths
        .iter()
        .map(|(base, path)| Path::new(base).join(path))
        .filter(|path| !root.join(path).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map names paths that do not exist: {missing:?}"
    );
}
