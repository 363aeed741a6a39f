//! The files of stratum-core import each other one way: no module reaches back, through
//! any chain of `crate::` paths, to a module that imports it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each module of `src/` and the other modules its text names through `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut texts = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("lib.rs") {
            let name = path
                .file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            texts.insert(
                name,
                std::fs::read_to_string(&path).expect("a readable module"),
            );
        }
    }
    let modules: BTreeSet<String> = texts.keys().cloned().collect();
    texts
        .iter()
        .map(|(name, text)| {
            let named = first_segments(text)
                .into_iter()
                .filter(|m| m != name && modules.contains(m))
                .collect();
            (name.clone(), named)
        })
        .collect()
}

/// The first path segment after every `crate::`, reading `crate::{a::X, b}` as `a` and `b`.
fn first_segments(text: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.push(ident(group[start..i].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(ident(group[start..i].trim()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(ident(rest));
        }
    }
    found
}

/// A chain of imports that comes back to where it started, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_one_that_imports_it() {
    let graph = imports();
    assert!(
        graph.len() > 20,
        "read only {} modules of src/",
        graph.len()
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("an import circle: {}", cycle.join(" → "));
    }
}

#[test]
fn the_pure_core_imports_nothing_of_the_server() {
    let server = [
        "pool",
        "shared",
        "connection",
        "switch",
        "upstream",
        "client",
        "proxy",
        "tls",
    ];
    let core = [
        "protocol", "session", "validate", "vardiff", "ban", "job", "ids",
    ];
    let graph = imports();
    for module in core {
        let named = &graph[module];
        for forbidden in server {
            assert!(
                !named.contains(forbidden),
                "{module} (pure core) imports {forbidden} (server)"
            );
        }
    }
}

#[test]
fn the_reader_finds_both_forms_of_crate_paths() {
    let text = "use crate::{a::X, b, c::{D, E}};\nuse crate::f::G;\nlet x = crate::g();";
    assert_eq!(first_segments(text), ["a", "b", "c", "f", "g"]);
    let mut circle = BTreeMap::new();
    circle.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    circle.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(find_cycle(&circle).unwrap(), ["a", "b", "a"]);
}
