//! DESIGN.md's crate graph is the one the manifests declare: every crate's normal
//! dependencies on workspace crates, no more and no fewer.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The workspace crates named in the `[dependencies]` section of `manifest`.
fn workspace_dependencies(manifest: &str, crates: &BTreeSet<String>) -> BTreeSet<String> {
    let mut in_dependencies = false;
    let mut found = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if !in_dependencies {
            continue;
        }
        let name = line.split(['.', '=', ' ']).next().unwrap_or_default();
        if crates.contains(name) {
            found.insert(name.to_owned());
        }
    }
    found
}

/// DESIGN.md's table: crate → the workspace crates it uses.
fn design_table(design: &str) -> BTreeMap<String, BTreeSet<String>> {
    design
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let [name, uses] = cells.as_slice() else {
                return None;
            };
            let name = name.strip_prefix('`')?.split('`').next()?;
            let uses = uses
                .split(',')
                .map(str::trim)
                .filter(|used| *used != "none")
                .map(str::to_owned)
                .collect();
            Some((name.to_owned(), uses))
        })
        .collect()
}

#[test]
fn the_crate_graph_in_design_md_matches_the_manifests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members: Vec<String> = workspace
        .split("members = [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap()
        .split(',')
        .map(|member| member.trim().trim_matches('"').to_owned())
        .filter(|member| !member.is_empty())
        .collect();
    let crates: BTreeSet<String> = members.iter().cloned().collect();
    let declared: BTreeMap<String, BTreeSet<String>> = members
        .iter()
        .map(|member| {
            let manifest = std::fs::read_to_string(root.join(member).join("Cargo.toml")).unwrap();
            (member.clone(), workspace_dependencies(&manifest, &crates))
        })
        .collect();
    let design = std::fs::read_to_string(root.join("DESIGN.md")).unwrap();
    assert_eq!(design_table(&design), declared);
}
