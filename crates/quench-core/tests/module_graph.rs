//! The files of quench-core import each other without circles, and none grows past
//! [`MAX_LINES`] without saying why in its module doc.
//!
//! A reference is any `crate::`, `super::` or `self::` path, or a `use` of a child
//! module, in code (comments are skipped). It points at the deepest module the path
//! names, so `crate::incident::record::IncidentRecord` is an edge to
//! `incident/record.rs` and `crate::incident::IncidentRecord` one to `incident/mod.rs`,
//! the folder's face: inside the crate, an item is imported from the file that defines
//! it (see lib.rs), and a file that imports its own folder's face closes a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A source file longer than this says why in its module doc (a `//!` line that
/// mentions `lines`).
const MAX_LINES: usize = 800;

/// `a/b.rs` and `a/b/mod.rs` are the module `a::b`; `lib.rs` is the crate root.
fn module_of(relative: &str) -> String {
    let path = relative.trim_end_matches(".rs");
    let path = path.strip_suffix("/mod").unwrap_or(path);
    if path == "lib" {
        return String::new();
    }
    path.replace('/', "::")
}

fn parent(module: &str) -> String {
    module
        .rsplit_once("::")
        .map_or(String::new(), |(p, _)| p.to_string())
}

fn join(base: &str, segment: &str) -> String {
    if base.is_empty() {
        segment.to_string()
    } else {
        format!("{base}::{segment}")
    }
}

/// The code of a file without its comments (line comments, doc comments and block
/// comments), so a path in prose is not a reference.
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |end| &after[end..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |end| &after[end + 2..]);
        } else if rest.starts_with('"') {
            // Skip string literals: a path inside one is text, not a reference.
            let bytes = rest.as_bytes();
            let mut end = 1;
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            rest = rest.get(end + 1..).unwrap_or("");
        } else {
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                out.push(c);
            }
            rest = chars.as_str();
        }
    }
    out
}

/// Every path a `use` tree or an expression names, starting at `start` (the text after
/// a path root): `a::b::C`, `a::{b::C, d}` → `a::b::C`, `a::d`.
fn expand_paths(prefix: &str, text: &str, out: &mut Vec<String>) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut path = prefix.to_string();
    loop {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i > start {
            path = join(&path, &text[start..i]);
        }
        if text[i..].starts_with("::{") {
            i += 3;
            loop {
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i < bytes.len() && bytes[i] == b'}' {
                    return i + 1;
                }
                i += expand_paths(&path, &text[i..], out);
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() {
                    return i;
                }
            }
        } else if text[i..].starts_with("::") {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// The byte ranges of the inline modules (`mod tests { .. }`) of a file's code.
fn inline_modules(code: &str) -> Vec<(usize, usize)> {
    let bytes = code.as_bytes();
    let mut ranges = Vec::new();
    for (at, _) in code.match_indices("mod ") {
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let rest = &code[at + 4..];
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let after = rest[name_len..].trim_start();
        if name_len == 0 || !after.starts_with('{') {
            continue;
        }
        let open = code.len() - after.len();
        let mut depth = 0usize;
        for (offset, byte) in bytes[open..].iter().enumerate() {
            match byte {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        ranges.push((open, open + offset));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    ranges
}

/// The modules one file refers to, resolved against the crate's modules.
fn references(
    module: &str,
    is_folder: bool,
    code: &str,
    modules: &BTreeSet<String>,
) -> BTreeSet<String> {
    // What `super` and `self` mean in this file.
    let own = module.to_string();
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let boundary = |at: usize| {
        at == 0
            || !(bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
                || bytes[at - 1] == b':')
    };
    for (at, _) in code.match_indices("crate::") {
        if boundary(at) {
            expand_paths("", &code[at + "crate::".len()..], &mut paths);
        }
    }
    let inline = inline_modules(code);
    for root in ["super::", "self::"] {
        for (at, _) in code.match_indices(root) {
            if !boundary(at) {
                continue;
            }
            // Inside an inline `mod name { .. }`, `super` is this file's module; the
            // inline module itself belongs to the file.
            let nested = inline
                .iter()
                .any(|(start, end)| (*start..*end).contains(&at));
            let base = if root == "self::" || nested {
                own.clone()
            } else {
                parent(&own)
            };
            let mut rest = &code[at + root.len()..];
            let mut base = base;
            while let Some(after) = rest.strip_prefix("super::") {
                base = parent(&base);
                rest = after;
            }
            expand_paths(&base, rest, &mut paths);
        }
    }
    // `use child::Item;` in a folder's mod.rs (a path relative to the module itself).
    if is_folder {
        for (at, _) in code.match_indices("use ") {
            if !boundary(at) {
                continue;
            }
            let rest = &code[at + 4..];
            let first: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&join(&own, &first)) && rest[first.len()..].starts_with("::") {
                expand_paths(&own, rest, &mut paths);
            }
        }
    }
    let mut targets = BTreeSet::new();
    for path in paths {
        // The deepest module the path names.
        let segments: Vec<&str> = path.split("::").collect();
        let mut target = None;
        for end in (1..=segments.len()).rev() {
            let candidate = segments[..end].join("::");
            if modules.contains(&candidate) {
                target = Some(candidate);
                break;
            }
        }
        if let Some(target) = target {
            if target != own {
                targets.insert(target);
            }
        }
    }
    targets
}

/// The graph of a crate's files: module → modules it refers to. `files` maps a path
/// relative to `src/` to its source.
fn graph(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = files.keys().map(|f| module_of(f)).collect();
    files
        .iter()
        .map(|(file, source)| {
            let module = module_of(file);
            let is_folder = file.ends_with("mod.rs") || file == "lib.rs";
            let refs = references(&module, is_folder, &code_only(source), &modules);
            (module, refs)
        })
        .collect()
}

/// The circles of the graph: its strongly connected components of more than one module
/// (Tarjan's algorithm), each sorted.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a str) {
        let next = state.index.len();
        state.index.insert(node, next);
        state.low.insert(node, next);
        state.stack.push(node);
        state.on_stack.insert(node);
        let graph = state.graph;
        for target in graph.get(node).into_iter().flatten() {
            let target = target.as_str();
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[target].min(state.low[node]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.index[target].min(state.low[node]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(top);
                component.push(top.to_string());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.found
}

fn read_tree(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            // Binaries are crates of their own.
            if path.file_name().is_some_and(|n| n == "bin") && dir == root {
                continue;
            }
            read_tree(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let source =
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
            files.insert(relative, source);
        }
    }
}

fn crate_sources() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    read_tree(&src, &src, &mut files);
    files
}

#[test]
fn quench_core_has_no_import_circles() {
    let files = crate_sources();
    assert!(files.len() > 20, "found only {} files", files.len());
    let graph = graph(&files);
    let found = circles(&graph);
    assert!(
        found.is_empty(),
        "modules that import each other in a circle (import from the defining file, not a folder's mod.rs):\n{}",
        found
            .iter()
            .map(|circle| {
                // Each edge inside the circle, so the import to change can be found.
                let edges: Vec<String> = circle
                    .iter()
                    .flat_map(|from| {
                        graph[from]
                            .iter()
                            .filter(|to| circle.contains(to))
                            .map(move |to| format!("    {from} -> {to}"))
                    })
                    .collect();
                format!("  {}\n{}", circle.join(", "), edges.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_check_sees_the_references_that_make_a_circle() {
    let graph = graph(&crate_sources());
    let refs = |module: &str| graph.get(module).cloned().unwrap_or_default();
    // A file that names another file's item, through a group and through `super`.
    assert!(
        refs("incident::apply").contains("incident::decide"),
        "{:?}",
        refs("incident::apply")
    );
    assert!(
        refs("oncall::tests").contains("oncall::schedule"),
        "{:?}",
        refs("oncall::tests")
    );
    // A folder's face re-exports its files.
    assert!(
        refs("incident").contains("incident::record"),
        "{:?}",
        refs("incident")
    );
    // The config's vocabulary imports nothing of the domain.
    assert!(
        refs("config::vocabulary").is_empty(),
        "{:?}",
        refs("config::vocabulary")
    );
}

#[test]
fn a_circle_is_reported() {
    let files: BTreeMap<String, String> = [
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;"),
        ("a.rs", "use crate::b::{Thing, other::Deeper};"),
        ("b.rs", "pub struct Thing;\n// crate::a in a comment is no reference\nfn f() { crate::c::g(); }"),
        ("c.rs", "pub fn g() { let _ = \"crate::a\"; super::a::h(); }"),
        ("d/mod.rs", "pub(crate) mod e;\npub use e::E;"),
        ("d/e.rs", "pub struct E;"),
        // `super` inside an inline module is the file's own module, not its parent.
        ("d/f.rs", "mod tests {\n    use super::*;\n}"),
    ]
    .into_iter()
    .map(|(path, text)| (path.to_string(), text.to_string()))
    .collect();
    let found = circles(&graph(&files));
    assert_eq!(found, vec![vec!["a".to_string(), "b".into(), "c".into()]]);

    let mut fixed = files.clone();
    fixed.insert("c.rs".into(), "pub fn g() {}".into());
    assert!(circles(&graph(&fixed)).is_empty());

    // A file importing its folder's face closes a circle with the face's re-export.
    let mut through_face = fixed;
    through_face.insert(
        "d/e.rs".into(),
        "use crate::d::E as Again;\npub struct E;".into(),
    );
    assert_eq!(
        circles(&graph(&through_face)),
        vec![vec!["d".to_string(), "d::e".into()]]
    );
}

#[test]
fn long_files_say_why() {
    for (file, source) in crate_sources() {
        let lines = source.lines().count();
        if lines > MAX_LINES {
            let explained = source
                .lines()
                .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
                .any(|l| l.starts_with("//!") && l.contains("lines"));
            assert!(
                explained,
                "src/{file} has {lines} lines, more than {MAX_LINES}, and its module doc does not say why"
            );
        }
    }
}
