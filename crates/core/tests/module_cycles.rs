//! No import circles among core's modules: every module stands on what it
//! uses. A module is a file (`a/mod.rs` is `a`); `A → B` when A's non-test
//! code names something B defines, through `use` or an inline `crate::` /
//! `super::` path. A parent's `pub use` of a child's item is looked through
//! (naming `crate::scd2::Dialect` is naming `scd2::dialect`), and `mod`
//! declarations are structure, not use. A circle fails the test with the
//! lines that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's file, its own code (tests cut off), and where each line starts.
struct Module {
    file: PathBuf,
    code: String,
}

fn module_name(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
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

/// The code without comments and without the top-level `#[cfg(test)]` part.
fn own_code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or_default();
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// `use` trees expanded to paths: `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        let path = tree.split("as").next().unwrap_or(&tree);
        return vec![path.trim_end_matches("::").to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut parts, mut depth, mut current) = (Vec::new(), 0, String::new());
    for ch in inner.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    parts.push(current);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            expand(&p).into_iter().map(|tail| {
                if tail == "self" {
                    prefix.trim_end_matches("::").to_string()
                } else {
                    format!("{prefix}{tail}")
                }
            })
        })
        .collect()
}

/// Each `use` statement of the code: whether it is a re-export, its paths, its line.
fn uses(code: &str) -> Vec<(bool, Vec<String>, usize)> {
    let mut out = Vec::new();
    let mut rest = code;
    let mut offset = 0;
    while let Some(at) = find_use(rest) {
        let start = offset + at;
        let line = code[..start].lines().count() + 1;
        let statement = &code[start..];
        let end = statement.find(';').unwrap_or(statement.len());
        let text = &statement[..end];
        let public = text.starts_with("pub");
        let tree = text[text.find("use ").unwrap() + 4..].trim();
        out.push((public, expand(tree), line));
        offset = start + end;
        rest = &code[offset..];
    }
    out
}

/// Where the next `use` statement starts (at a line's start, after indentation).
fn find_use(code: &str) -> Option<usize> {
    let mut position = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with("use ")
            || trimmed.starts_with("pub use ")
            || trimmed.starts_with("pub(crate) use ")
        {
            return Some(position + indent);
        }
        position += line.len();
    }
    None
}

struct Graph {
    modules: BTreeMap<String, Module>,
    /// Per module, names it re-exports → the path they come from.
    reexports: BTreeMap<String, BTreeMap<String, String>>,
}

impl Graph {
    fn load(src: &Path) -> Graph {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let mut modules = BTreeMap::new();
        for file in files {
            let name = module_name(src, &file);
            if name.rsplit("::").next() == Some("tests") {
                continue;
            }
            let code = own_code(&std::fs::read_to_string(&file).unwrap());
            modules.insert(name, Module { file, code });
        }
        let mut graph = Graph {
            modules,
            reexports: BTreeMap::new(),
        };
        let names: Vec<String> = graph.modules.keys().cloned().collect();
        for name in names {
            let mut map = BTreeMap::new();
            for (public, paths, _) in uses(&graph.modules[&name].code) {
                for path in paths.into_iter().filter(|_| public) {
                    if let Some(absolute) = graph.absolute(&name, &path) {
                        let item = path.rsplit("::").next().unwrap().to_string();
                        map.insert(item, absolute);
                    }
                }
            }
            graph.reexports.insert(name, map);
        }
        graph
    }

    /// `path`, named in module `from`, as a path from the crate root; None
    /// for another crate's.
    fn absolute(&self, from: &str, path: &str) -> Option<String> {
        let mut segments: Vec<&str> = path.split("::").collect();
        let mut base: Vec<&str> = if from.is_empty() {
            Vec::new()
        } else {
            from.split("::").collect()
        };
        match segments[0] {
            "crate" => {
                base.clear();
                segments.remove(0);
            }
            "self" => {
                segments.remove(0);
            }
            "super" => {
                while segments.first() == Some(&"super") {
                    segments.remove(0);
                    base.pop();
                }
            }
            first => {
                // A child module named without `self::`.
                let child = if from.is_empty() {
                    first.to_string()
                } else {
                    format!("{from}::{first}")
                };
                if !self.modules.contains_key(&child) {
                    return None;
                }
            }
        }
        base.extend(segments);
        Some(base.join("::"))
    }

    /// The module that defines what the absolute `path` names.
    fn owner(&self, path: &str, depth: usize) -> String {
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let mut module = String::new();
        for (i, segment) in segments.iter().enumerate() {
            let child = if module.is_empty() {
                segment.to_string()
            } else {
                format!("{module}::{segment}")
            };
            if self.modules.contains_key(&child) {
                module = child;
                continue;
            }
            if let Some(source) = self.reexports.get(&module).and_then(|m| m.get(*segment))
                && depth < 8
                && source != path
            {
                let rest = segments[i + 1..].join("::");
                let through = if rest.is_empty() {
                    source.clone()
                } else {
                    format!("{source}::{rest}")
                };
                return self.owner(&through, depth + 1);
            }
            break;
        }
        module
    }

    /// Every edge `from → to`, with the first line that makes it.
    fn edges(&self) -> BTreeMap<(String, String), usize> {
        let inline = regex_lite_paths;
        let mut edges = BTreeMap::new();
        for (name, module) in &self.modules {
            let mut named: Vec<(String, usize)> = Vec::new();
            for (public, paths, line) in uses(&module.code) {
                if !public {
                    named.extend(paths.into_iter().map(|p| (p, line)));
                }
            }
            named.extend(inline(&module.code));
            for (path, line) in named {
                let Some(absolute) = self.absolute(name, &path) else {
                    continue;
                };
                let to = self.owner(&absolute, 0);
                if &to != name && self.modules.contains_key(&to) {
                    edges.entry((name.clone(), to)).or_insert(line);
                }
            }
        }
        edges
    }
}

/// Inline `crate::…` and `super::…` paths outside `use` statements.
fn regex_lite_paths(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("use ") || trimmed.starts_with("pub use ") {
            continue;
        }
        for start in ["crate::", "super::"] {
            let mut from = 0;
            while let Some(at) = line[from..].find(start) {
                let begin = from + at;
                let before = line[..begin].chars().last();
                let end = line[begin..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .map_or(line.len(), |e| begin + e);
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    out.push((line[begin..end].trim_end_matches(':').to_string(), n + 1));
                }
                from = end.max(begin + start.len());
            }
        }
    }
    out
}

/// Strongly connected components of more than one module.
fn circles(edges: &BTreeMap<(String, String), usize>) -> Vec<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
        next.entry(to).or_default();
    }
    let reach = |start: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start];
        while let Some(m) = stack.pop() {
            for n in &next[m] {
                if seen.insert(*n) {
                    stack.push(n);
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&str, BTreeSet<&str>> = next.keys().map(|m| (*m, reach(m))).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for m in next.keys() {
        if done.contains(*m) || !reachable[m].contains(m) {
            continue;
        }
        let component: Vec<String> = next
            .keys()
            .filter(|o| reachable[m].contains(*o) && reachable[*o].contains(m))
            .map(|o| o.to_string())
            .collect();
        done.extend(component.iter().cloned());
        if component.len() > 1 {
            out.push(component);
        }
    }
    out
}

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn core_has_no_import_circles() {
    let graph = Graph::load(&src());
    let edges = graph.edges();
    let found = circles(&edges);
    let mut message = String::new();
    for component in &found {
        message.push_str(&format!("circle: {}\n", component.join(", ")));
        for ((from, to), line) in &edges {
            if component.contains(from) && component.contains(to) {
                let file = graph.modules[from].file.strip_prefix(src()).unwrap();
                message.push_str(&format!("  {from} → {to} ({}:{line})\n", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "{message}");
}

#[test]
fn the_check_finds_circles_and_looks_through_reexports() {
    assert_eq!(
        expand("crate::{a::X, b::{Y, self}}"),
        ["crate::a::X", "crate::b::Y", "crate::b"]
    );
    let graph = Graph::load(&src());
    // A parent's re-export leads to the child that defines the item.
    assert_eq!(graph.owner("scd2::Dialect", 0), "scd2::dialect");
    assert_eq!(graph.owner("error::Error", 0), "error");
    let edges = graph.edges();
    assert!(
        edges.contains_key(&("steps::merge_history".into(), "ledger".into())),
        "{edges:?}"
    );
    // A circle made by hand is found.
    let mut circular = BTreeMap::new();
    circular.insert(("a".to_string(), "b".to_string()), 1);
    circular.insert(("b".to_string(), "c".to_string()), 1);
    circular.insert(("c".to_string(), "a".to_string()), 1);
    circular.insert(("c".to_string(), "d".to_string()), 1);
    assert_eq!(circles(&circular), [["a", "b", "c"]]);
}
