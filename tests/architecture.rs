//! The tree is the architecture: no import cycles between the files of `src/`.
//!
//! A small import-graph check of our own (no crate reads `use` trees without
//! compiling): every `use crate::…`/`super::…`/`self::…` tree and every inline
//! `crate::…`/`super::…` path of a file is resolved to the file of the longest
//! module prefix it names (a child module named bare, `matcher::lookup`, too);
//! an edge runs from the file to that file. `mod x;` declarations are not
//! imports; a file's use of its own parent modules (`super::X`: what a `mod.rs`
//! defines for its children) is not counted, every other arrow is; `#[cfg(test)]`
//! modules are left out (tests may reach anywhere). The test fails naming every
//! cycle and its edges.
//!
//! `cargo test --test architecture -- --nocapture` also prints the module graph's
//! size and the files that most files import.

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// `crate::a::b` for `src/a/b.rs` or `src/a/b/mod.rs`; `crate` for `src/lib.rs`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.last().map(String::as_str) {
        Some("lib") if parts.len() == 1 => parts.clear(),
        Some("main") if parts.len() == 1 => return None,
        Some("mod") => {
            parts.pop();
        }
        Some(name) if name.ends_with("_tests") => return None,
        _ => {}
    }
    let mut module = String::from("crate");
    for p in parts {
        module.push_str("::");
        module.push_str(&p);
    }
    Some(module)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's text without comments, string literals and `#[cfg(test)]` items.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    let comments = Regex::new(r"(?m)//.*$").unwrap();
    let strings = Regex::new(r#""(?:[^"\\]|\\.)*""#).unwrap();
    let text = comments.replace_all(text, "");
    strings.replace_all(&text, "\"\"").into_owned()
}

/// Every path a `use` tree names, e.g. `a::{b, c::{d, self}}` → `a::b`, `a::c::d`, `a::c`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or("").trim();
        return vec![path.trim_end_matches("::*").to_string()];
    };
    let prefix = tree[..open].trim().trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            expand(p).into_iter().map(move |rest| match rest.as_str() {
                "self" => prefix.to_string(),
                _ if rest.starts_with("self ") => prefix.to_string(),
                _ => format!("{prefix}::{rest}"),
            })
        })
        .collect()
}

/// `super::x` / `self::x` / `crate::x` as an absolute path from `module`.
fn absolute(module: &str, is_dir_module: bool, path: &str) -> Option<String> {
    let mut segments: Vec<&str> = path.split("::").map(str::trim).collect();
    let mut base: Vec<&str> = module.split("::").collect();
    match segments.first().copied() {
        Some("crate") => {
            segments.remove(0);
            base = vec!["crate"];
        }
        Some("self") => {
            segments.remove(0);
        }
        Some("super") => {
            while segments.first() == Some(&"super") {
                segments.remove(0);
                base.pop()?;
            }
        }
        _ => return None,
    }
    let _ = is_dir_module;
    base.extend(segments);
    Some(base.join("::"))
}

fn graph() -> (Graph, BTreeMap<String, String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<String, String> = files
        .iter()
        .filter_map(|f| {
            let m = module_of(&src, f)?;
            let shown = f.strip_prefix(&src).unwrap().display().to_string();
            Some((m, format!("src/{shown}")))
        })
        .collect();
    let use_tree = Regex::new(r"(?s)\buse\s+((?:crate|super|self)\b[^;]*);").unwrap();
    let inline = Regex::new(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+").unwrap();
    let mut graph = Graph::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let dir_module = file.ends_with("mod.rs") || file.ends_with("lib.rs");
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let mut paths: Vec<String> = use_tree
            .captures_iter(&code)
            .flat_map(|c| expand(&c[1]))
            .collect();
        paths.extend(inline.find_iter(&code).map(|m| m.as_str().to_string()));
        // A child module named bare (`matcher::lookup`, `use error::Pos`) is `self::`.
        for child in children(&modules, &module) {
            let bare = Regex::new(&format!(r"(?:^|[^:\w]){child}::")).unwrap();
            if bare.is_match(&code) {
                paths.push(format!("self::{child}"));
            }
        }
        let edges = graph.entry(modules[&module].clone()).or_default();
        for path in paths {
            let Some(mut target) = absolute(&module, dir_module, &path) else {
                continue;
            };
            // The longest prefix that is a module of its own file.
            while !modules.contains_key(&target) {
                match target.rfind("::") {
                    Some(at) => target.truncate(at),
                    None => break,
                }
            }
            // A file may use what its own parent modules define (`super::X`, the
            // module's front door); every other arrow counts.
            let ancestor = module.starts_with(&format!("{target}::"));
            if let Some(to) = modules.get(&target)
                && target != module
                && !ancestor
            {
                edges.insert(to.clone());
            }
        }
    }
    (graph, modules)
}

/// The last segments of the modules directly below `module`.
fn children<'m>(modules: &'m BTreeMap<String, String>, module: &str) -> Vec<&'m str> {
    let prefix = format!("{module}::");
    modules
        .keys()
        .filter_map(|m| m.strip_prefix(&prefix))
        .filter(|rest| !rest.contains("::"))
        .collect()
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn use_trees_expand_to_every_path_they_name() {
    assert_eq!(
        expand("crate::store::{Store, actions::{self as sql, Row}}"),
        [
            "crate::store::Store",
            "crate::store::actions",
            "crate::store::actions::Row"
        ]
    );
    assert_eq!(expand("super::backoff::*"), ["super::backoff"]);
    assert_eq!(
        absolute("crate::actions::send_dm", false, "super::super::store").as_deref(),
        Some("crate::store")
    );
}

#[test]
fn the_source_tree_has_no_import_cycles() {
    let (graph, modules) = graph();
    assert!(modules.len() > 50, "read {} modules", modules.len());
    let mut imported: BTreeMap<&str, usize> = BTreeMap::new();
    for to in graph.values().flatten() {
        *imported.entry(to).or_default() += 1;
    }
    let mut most: Vec<_> = imported.into_iter().collect();
    most.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    println!("{} files, {edges} import edges", graph.len());
    println!("most imported: {:?}", &most[..most.len().min(10)]);
    let found = cycles(&graph);
    let described: Vec<String> = found
        .iter()
        .map(|files| {
            let inside: BTreeSet<&String> = files.iter().collect();
            let arrows: Vec<String> = files
                .iter()
                .flat_map(|f| {
                    graph[f]
                        .iter()
                        .filter(|t| inside.contains(t))
                        .map(move |t| format!("    {f} -> {t}"))
                })
                .collect();
            format!("a cycle of {} files:\n{}", files.len(), arrows.join("\n"))
        })
        .collect();
    assert!(
        found.is_empty(),
        "{} import cycle(s):\n{}",
        found.len(),
        described.join("\n")
    );
}
