//! Unit tests of the local stack's private parts: the environment a started watch gets.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::Command;

use super::watch::*;
use super::*;

/// The environment `command` would run with: this process's, changed as it says.
fn environment(command: &Command) -> BTreeMap<OsString, OsString> {
    let mut environment: BTreeMap<_, _> = std::env::vars_os().collect();
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => environment.insert(name.to_owned(), value.to_owned()),
            None => environment.remove(name),
        };
    }
    environment
}

#[test]
fn the_watch_gets_none_of_the_variables_cargo_test_set() {
    // cargo sets both for every test it runs, this one included.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
    let added = [("AWS_REGION".to_string(), REGION.to_string())];
    let environment = environment(&LambdaWatch::command(
        Path::new("cargo-lambda"),
        9000,
        &added,
    ));
    let left: Vec<_> = environment
        .keys()
        .filter_map(|name| name.to_str())
        .filter(|name| {
            [
                "CARGO",
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
            ]
            .contains(name)
                || name.starts_with("CARGO_PKG_")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
    for kept in [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
    ] {
        assert_eq!(
            environment.get(&OsString::from(kept)),
            std::env::var_os(kept).as_ref(),
            "{kept}"
        );
    }
    assert_eq!(
        environment.get(&OsString::from("AWS_REGION")),
        Some(&OsString::from(REGION))
    );
}

#[test]
fn only_what_cargo_sets_for_a_test_or_build_script_is_removed() {
    let names = [
        "CARGO",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_PKG_NAME",
        "CARGO_PKG_VERSION_MAJOR",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_BIN_EXE_quench-demo",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "OUT_DIR",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_INCREMENTAL",
        "CARGO_BUILD_JOBS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TERM_COLOR",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "PATH",
        "QUENCH_TABLE",
    ];
    let removed = cargo_variables(names.map(OsString::from));
    assert_eq!(
        removed,
        [
            "CARGO",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_BIN_EXE_quench-demo",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "OUT_DIR",
        ]
        .map(OsString::from)
    );
}
