//! The other direction of the seed test's check (every call made is allowed): every
//! action a role grants is called by code its function can reach, so a grant outlives no
//! removed code and a function is not granted what only another function does.
//!
//! "Can reach" is a call graph by name over the Rust source of the function's crate and
//! the workspace crates it links: every function body of its own crate is reached, and a
//! function of a linked crate is reached once a reached body names it. A name is not a
//! type (every `send` is one name), so this over-approximates, but it no longer counts
//! every SDK call in quench-aws as made by every function that links quench-aws: the
//! chat notifier links the store's `release_step`, which deletes, and never names it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quench_local_stack::{function_actions, repo_root, FUNCTIONS};

/// Granted without a call of their own: KMS decrypts on behalf of Secrets Manager and of
/// SSM (a SecureString parameter), SSM passes the automation role, a transaction's puts
/// need PutItem (as `quench_local_stack::iam_actions` maps them), and tags given to a new
/// OpsItem need AddTagsToResource (the CreateOpsItem API reference says so).
const IMPLIED: [(&str, &str); 5] = [
    ("kms:Decrypt", "get_secret_value"),
    ("kms:Decrypt", "get_parameter"),
    ("iam:PassRole", "start_automation_execution"),
    ("dynamodb:PutItem", "transact_write_items"),
    ("ssm:AddTagsToResource", "create_ops_item"),
];

/// `GetSecretValue` -> `get_secret_value`: the SDK's method for an operation.
fn sdk_method(operation: &str) -> String {
    let mut method = String::new();
    for (i, c) in operation.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            method.push('_');
        }
        method.push(c.to_ascii_lowercase());
    }
    method
}

/// One function definition: its name and every identifier its body names.
struct Definition {
    name: String,
    names: BTreeSet<String>,
}

fn is_brace(tree: &TokenTree) -> bool {
    matches!(tree, TokenTree::Group(group) if group.delimiter() == Delimiter::Brace)
}

fn is_semicolon(tree: &TokenTree) -> bool {
    matches!(tree, TokenTree::Punct(punct) if punct.as_char() == ';')
}

/// The index just past the item that continues at `start`: past its first `{ }` block,
/// or its `;` when it has none (a trait method without a default body, `mod name;`).
fn end_of_item(trees: &[TokenTree], start: usize) -> usize {
    trees
        .iter()
        .skip(start)
        .position(|tree| is_brace(tree) || is_semicolon(tree))
        .map_or(trees.len(), |at| start + at + 1)
}

fn is_cfg_test(tree: Option<&TokenTree>) -> bool {
    let Some(TokenTree::Group(group)) = tree else {
        return false;
    };
    let text: String = group
        .stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    group.delimiter() == Delimiter::Bracket && text == "cfg(test)"
}

fn collect_names(stream: TokenStream, names: &mut BTreeSet<String>) {
    for tree in stream {
        match tree {
            TokenTree::Ident(ident) => {
                names.insert(ident.to_string());
            }
            TokenTree::Group(group) => collect_names(group.stream(), names),
            _ => {}
        }
    }
}

/// Every function with a body in `stream`, nested ones included; `#[cfg(test)]` items
/// are not part of what a function runs and are left out.
fn collect_definitions(stream: TokenStream, definitions: &mut Vec<Definition>) {
    let trees: Vec<TokenTree> = stream.into_iter().collect();
    let mut at = 0;
    while at < trees.len() {
        match &trees[at] {
            TokenTree::Punct(punct) if punct.as_char() == '#' && is_cfg_test(trees.get(at + 1)) => {
                at = end_of_item(&trees, at + 2);
                continue;
            }
            TokenTree::Ident(keyword) if keyword == "fn" => {
                if let Some(TokenTree::Ident(name)) = trees.get(at + 1) {
                    let end = end_of_item(&trees, at + 2);
                    if let Some(TokenTree::Group(body)) = trees.get(end - 1).filter(|t| is_brace(t))
                    {
                        let mut names = BTreeSet::new();
                        collect_names(body.stream(), &mut names);
                        definitions.push(Definition {
                            name: name.to_string(),
                            names,
                        });
                        collect_definitions(body.stream(), definitions);
                    }
                    at = end;
                    continue;
                }
            }
            TokenTree::Group(group) => collect_definitions(group.stream(), definitions),
            _ => {}
        }
        at += 1;
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).expect("source dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

fn definitions_in(crate_dir: &Path) -> Vec<Definition> {
    let mut definitions = Vec::new();
    for file in rust_files(&crate_dir.join("src")) {
        let text = std::fs::read_to_string(&file).expect("source");
        let tokens = TokenStream::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not lex: {e}", file.display()));
        collect_definitions(tokens, &mut definitions);
    }
    definitions
}

/// The workspace crates (under crates/) that `crate_name` links, itself excluded:
/// its `[dependencies]`, and theirs.
fn linked_crates(crate_name: &str) -> BTreeSet<String> {
    let crates = repo_root().join("crates");
    let mut linked = BTreeSet::new();
    let mut pending = vec![crate_name.to_string()];
    while let Some(name) = pending.pop() {
        let manifest = std::fs::read_to_string(crates.join(&name).join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("crates/{name}/Cargo.toml: {e}"));
        let dependencies = manifest
            .split("\n[dependencies]\n")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .unwrap_or_default();
        for line in dependencies.lines() {
            let dependency = line.split(['.', ' ', '=']).next().unwrap_or_default();
            if crates.join(dependency).join("Cargo.toml").exists()
                && linked.insert(dependency.to_string())
            {
                pending.push(dependency.to_string());
            }
        }
    }
    linked
}

/// Every identifier named by a function the crate `binary` can reach.
fn reachable_names(binary: &str) -> BTreeSet<String> {
    let crates = repo_root().join("crates");
    let mut reached: BTreeSet<String> = BTreeSet::new();
    for definition in definitions_in(&crates.join(binary)) {
        reached.extend(definition.names);
    }
    let mut library: BTreeMap<String, Vec<BTreeSet<String>>> = BTreeMap::new();
    for linked in linked_crates(binary) {
        for definition in definitions_in(&crates.join(linked)) {
            library
                .entry(definition.name)
                .or_default()
                .push(definition.names);
        }
    }
    let mut pending: Vec<String> = reached.iter().cloned().collect();
    while let Some(name) = pending.pop() {
        for names in library.remove(&name).into_iter().flatten() {
            for named in names {
                if reached.insert(named.clone()) {
                    pending.push(named);
                }
            }
        }
    }
    reached
}

#[test]
fn every_granted_action_is_called_by_code_its_function_reaches() {
    let mut uncalled = Vec::new();
    for binary in FUNCTIONS {
        let reached = reachable_names(binary);
        for action in function_actions(binary).expect("actions") {
            let (_, operation) = action.split_once(':').expect("service:Operation");
            let mut methods = vec![sdk_method(operation)];
            methods.extend(
                IMPLIED
                    .iter()
                    .filter(|(implied, _)| *implied == action)
                    .map(|(_, by)| by.to_string()),
            );
            if !methods.iter().any(|method| reached.contains(method)) {
                uncalled.push(format!(
                    "{binary} is granted {action}, but no code it reaches calls {methods:?}"
                ));
            }
        }
    }
    assert!(uncalled.is_empty(), "{}", uncalled.join("\n"));
}

/// The graph itself: what a body names is reached, what only an unreached body names is
/// not, and test-only code is no one's.
#[test]
fn the_call_graph_follows_names_from_the_crate_into_what_it_links() {
    let source = "
        fn entry() { helper(); let f = Self::by_reference; }
        fn helper() { client.get_item().send(); }
        fn by_reference() { client.query(); }
        fn unreached() { client.delete_item(); }
        trait Port { fn declared(&self); fn defaulted(&self) { client.scan(); } }
        #[cfg(test)]
        mod tests { fn check() { unreached(); } }
    ";
    let mut definitions = Vec::new();
    collect_definitions(
        TokenStream::from_str(source).expect("lexes"),
        &mut definitions,
    );
    let defined: Vec<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        defined,
        ["entry", "helper", "by_reference", "unreached", "defaulted"]
    );
    let reached = reachable_names("chat-notifier");
    assert!(
        reached.contains("put_item"),
        "the delivery claims reach PutItem"
    );
    assert!(
        !reached.contains("release_step"),
        "only runbook-step releases a step claim"
    );
}
