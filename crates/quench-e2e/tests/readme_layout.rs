//! The README's table of what is where names only paths that exist, and every workspace
//! member among them. No local stack needed.

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
