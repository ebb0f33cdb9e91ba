//! The modules of `src/` form layers, and this test keeps them so: it reads every source file, finds the
//! `crate::` paths it names (`use crate::a::B`, `use crate::{a, b::C}`, `crate::a::f()` in code, and
//! `super::super::...` that climbs out of its top-level module), and fails on a dependency cycle between
//! top-level modules or on an edge that goes up against [`LAYERS`] (a module may use its own layer and
//! the layers below). Code under `#[cfg(test)]` is left out: a unit test may build its inputs with the
//! fixture generators above it, as an integration test does.
//!
//! A new top-level module must be given a layer here: the test fails for a module it does not know.
//! `cargo test --release --test it layers -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers from the bottom up, each with its top-level modules (`main` is `src/main.rs`).
const LAYERS: &[(&str, &[&str])] = &[
    ("base: types, errors, GDAL reading", &["error", "raster", "flags", "progress", "io"]),
    (
        "algorithms: pixels, grids, regions; read through io, write no outputs",
        &["spectral", "temporal", "compute", "align", "vectorize", "change", "drone", "scan"],
    ),
    ("outputs: the store, output formats, the report", &["store", "export", "report"]),
    ("jobs: read inputs, run algorithms, write outputs; generated inputs", &["jobs", "synth"]),
    ("front ends", &["cli", "serve", "main"]),
];

/// An edge from one top-level module to another, with where it was seen (for the failure message).
type Edges = BTreeMap<(String, String), Vec<String>>;

/// Rust source with comments, string and character literals blanked (newlines kept, so that line
/// numbers stay right), so that neither a doc comment nor a message that mentions `crate::x` counts.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if c[i] == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(i.checked_sub(1).map(|p| c[p]))
        {
            // A raw string r"..." or r#"..."#; `r#ident` (a raw identifier) has no quote after the hashes.
            let mut j = i + 1;
            while j < c.len() && c[j] == '#' {
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            let close: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let close: Vec<char> = close.chars().collect();
            let mut k = j + 1;
            while k < c.len() && c[k..].iter().take(close.len()).ne(close.iter()) {
                k += 1;
            }
            let end = (k + close.len()).min(c.len());
            out.extend(c[i..end].iter().map(|&ch| blank(ch)));
            i = end;
        } else if c[i] == '"' {
            let mut k = i + 1;
            while k < c.len() && c[k] != '"' {
                k += if c[k] == '\\' { 2 } else { 1 };
            }
            let end = (k + 1).min(c.len());
            out.extend(c[i..end].iter().map(|&ch| blank(ch)));
            i = end;
        } else if c[i] == '\'' {
            // A character literal ('x', '\n', '\u{1f}') or a lifetime ('a, 'static): only the first is blanked.
            let end = if next == Some('\\') {
                let mut k = i + 3;
                while k < c.len() && c[k] != '\'' {
                    k += 1;
                }
                Some(k + 1)
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    let end = end.min(c.len());
                    out.extend(c[i..end].iter().map(|&ch| blank(ch)));
                    i = end;
                }
                None => {
                    out.push(c[i]);
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Blanks every item under `#[cfg(test)]` (a `mod tests { ... }`, a `use`, a function) in code that
/// [`code_only`] has cleaned; returns the kept code and the blanked code.
fn split_tests(code: &str) -> (String, String) {
    let mut kept: Vec<char> = code.chars().collect();
    let mut tests: Vec<char> = code.chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
    let marker: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + marker.len() <= kept.len() {
        if kept[i..i + marker.len()] != marker[..] {
            i += 1;
            continue;
        }
        // The item runs to the `;` or to the brace that closes its first `{`, whichever comes first.
        let mut j = i + marker.len();
        let mut depth = 0;
        while j < kept.len() {
            match kept[j] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        j += 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    j += 1;
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        for k in i..j.min(kept.len()) {
            tests[k] = kept[k];
            if kept[k] != '\n' {
                kept[k] = ' ';
            }
        }
        i = j;
    }
    (kept.into_iter().collect(), tests.into_iter().collect())
}

/// The top-level modules that `code` names through `crate::` (or `jingtu::` in the binary) and
/// through `super` chains that leave the top-level module, with line numbers. `module_path` is the
/// file's module path (`["scan", "tracker"]` for `src/scan/tracker.rs`).
fn named_modules(code: &str, module_path: &[String], root: &str) -> Vec<(String, usize)> {
    let c: Vec<char> = code.chars().collect();
    let line_at = |i: usize| c[..i].iter().filter(|&&ch| ch == '\n').count() + 1;
    let root_chars: Vec<char> = root.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let starts_word = !ident_char(i.checked_sub(1).map(|p| c[p]));
        if starts_word && c[i..].starts_with(&root_chars) {
            let mut j = skip_ws(&c, i + root.len());
            if c[j..].starts_with(&[':', ':']) && !ident_char(c.get(i + root.len()).copied()) {
                j = skip_ws(&c, j + 2);
                for name in path_heads(&c, j) {
                    found.push((name, line_at(i)));
                }
            }
            i += root.len();
        } else if starts_word && c[i..].starts_with(&['s', 'u', 'p', 'e', 'r']) && !ident_char(c.get(i + 5).copied()) {
            // super::super::x: each `super` climbs one module; past the file's own path is the crate root.
            let mut ups = 0;
            let mut j = i;
            while c[j..].starts_with(&['s', 'u', 'p', 'e', 'r']) && !ident_char(c.get(j + 5).copied()) {
                let k = skip_ws(&c, j + 5);
                if !c[k..].starts_with(&[':', ':']) {
                    break; // pub(super), or `super` alone in a group
                }
                ups += 1;
                j = skip_ws(&c, k + 2);
            }
            if ups > 0 && ups >= module_path.len() {
                for name in path_heads(&c, j) {
                    found.push((name, line_at(i)));
                }
            }
            i = j.max(i + 5);
        } else {
            i += 1;
        }
    }
    found
}

fn skip_ws(c: &[char], mut i: usize) -> usize {
    while i < c.len() && c[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The first segment of the path at `i`: one identifier, or each item's first identifier in a
/// `{a, b::c, d::{e, f}}` group.
fn path_heads(c: &[char], i: usize) -> Vec<String> {
    let ident = |mut k: usize| {
        let start = k;
        while k < c.len() && ident_char(Some(c[k])) {
            k += 1;
        }
        (c[start..k].iter().collect::<String>(), k)
    };
    if c.get(i) != Some(&'{') {
        let (name, _) = ident(i);
        return if name.is_empty() { vec![] } else { vec![name] };
    }
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    let mut k = i;
    while k < c.len() {
        match c[k] {
            '{' => {
                depth += 1;
                if depth == 1 {
                    expect_head = true;
                }
                k += 1;
            }
            '}' => {
                depth -= 1;
                k += 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                expect_head = true;
                k += 1;
            }
            ch if depth == 1 && expect_head && ident_char(Some(ch)) => {
                let (name, end) = ident(k);
                heads.push(name);
                expect_head = false;
                k = end;
            }
            _ => k += 1,
        }
    }
    heads
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`: `scan/tracker.rs` is `["scan", "tracker"]`, `scan/mod.rs`
/// is `["scan"]`, `main.rs` is `["main"]`; `lib.rs` is the root (`[]`).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// The dependency edges between top-level modules of the crate at `src`: (kept, test-only).
fn crate_edges(src: &Path) -> (Edges, Edges, BTreeSet<String>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let modules: BTreeSet<String> =
        files.iter().filter_map(|f| module_path(f.strip_prefix(src).unwrap()).first().cloned()).collect();
    let (mut edges, mut test_edges) = (Edges::new(), Edges::new());
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let path = module_path(rel);
        let Some(top) = path.first().cloned() else { continue }; // lib.rs only declares the modules
        let (kept, tests) = split_tests(&code_only(&std::fs::read_to_string(&file).unwrap()));
        let root = if top == "main" { "jingtu" } else { "crate" };
        for (code, into) in [(&kept, &mut edges), (&tests, &mut test_edges)] {
            for (name, line) in named_modules(code, &path, root) {
                // Items re-exported at the root (crate::Error, crate::Result) are error's, used everywhere.
                if name != top && modules.contains(&name) {
                    into.entry((top.clone(), name)).or_default().push(format!("src/{}:{line}", rel.display()));
                }
            }
        }
    }
    (edges, test_edges, modules)
}

/// What is wrong with a graph against a layer table: unknown modules, upward edges, cycles.
fn problems(edges: &Edges, modules: &BTreeSet<String>, layers: &[(&str, &[&str])]) -> Vec<String> {
    let layer_of = |m: &str| layers.iter().position(|(_, ms)| ms.contains(&m));
    let mut out = Vec::new();
    for m in modules {
        if layer_of(m).is_none() {
            out.push(format!("module {m} has no layer: add it to LAYERS in tests/it/layers.rs"));
        }
    }
    for ((from, to), seen) in edges {
        if let (Some(a), Some(b)) = (layer_of(from), layer_of(to))
            && b > a
        {
            out.push(format!(
                "{from} ({}) uses {to} ({}), a layer above it, at {}",
                layers[a].0,
                layers[b].0,
                seen.join(", ")
            ));
        }
    }
    for cycle in cycles(edges) {
        let hops: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("{} -> {} at {}", w[0], w[1], edges[&(w[0].clone(), w[1].clone())][0]))
            .collect();
        out.push(format!("cycle {}: {}", cycle.join(" -> "), hops.join("; ")));
    }
    out
}

/// One cycle (first node repeated at the end) per strongly connected component of more than one module.
fn cycles(edges: &Edges) -> Vec<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
        next.entry(to).or_default();
    }
    let reaches = |from: &str, to: &str| -> Option<Vec<String>> {
        // Breadth-first from `from`, the path to `to` by the parents.
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from]);
        while let Some(n) = queue.pop_front() {
            for &m in &next[n] {
                if m == to {
                    let mut path = vec![to.to_string(), n.to_string()];
                    let mut at = n;
                    while at != from {
                        at = parent[at];
                        path.push(at.to_string());
                    }
                    path.reverse();
                    return Some(path);
                }
                if m != from && !parent.contains_key(m) {
                    parent.insert(m, n);
                    queue.push_back(m);
                }
            }
        }
        None
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for &n in next.keys() {
        if seen.contains(n) {
            continue;
        }
        if let Some(cycle) = reaches(n, n) {
            // Everything on a cycle through n is in n's component: report the component once.
            let component: Vec<&str> = next
                .keys()
                .copied()
                .filter(|&m| m == n || (reaches(n, m).is_some() && reaches(m, n).is_some()))
                .collect();
            seen.extend(component.iter().map(|m| m.to_string()));
            out.push(cycle);
        }
    }
    out
}

/// The graph as text: each layer, top first, with its modules and what each uses.
fn render(edges: &Edges, test_edges: &Edges, layers: &[(&str, &[&str])]) -> String {
    let mut s = String::new();
    for (name, modules) in layers.iter().rev() {
        s.push_str(&format!("{name}\n"));
        for m in *modules {
            let uses: Vec<&str> = edges.keys().filter(|(f, _)| f == m).map(|(_, t)| t.as_str()).collect();
            let tests: Vec<&str> = test_edges
                .keys()
                .filter(|(f, t)| f == m && !edges.contains_key(&(f.clone(), t.clone())))
                .map(|(_, t)| t.as_str())
                .collect();
            let tests = if tests.is_empty() { String::new() } else { format!("   (tests also: {})", tests.join(" ")) };
            s.push_str(&format!("  {m:<10} -> {}{tests}\n", uses.join(" ")));
        }
    }
    s
}

#[test]
fn the_modules_form_layers_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (edges, test_edges, modules) = crate_edges(&src);
    println!("{}", render(&edges, &test_edges, LAYERS));
    let found = problems(&edges, &modules, LAYERS);
    assert!(found.is_empty(), "the module layers are broken:\n{}", found.join("\n"));
}

#[test]
fn the_checker_finds_a_cycle_an_upward_edge_and_an_unknown_module() {
    let edge = |a: &str, b: &str| ((a.to_string(), b.to_string()), vec![format!("src/{a}.rs:1")]);
    let layers: &[(&str, &[&str])] = &[("low", &["a", "b"]), ("high", &["c"])];
    let modules: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();

    let fine: Edges = [edge("c", "a"), edge("a", "b")].into();
    assert!(problems(&fine, &modules, layers).is_empty());

    let cyclic: Edges = [edge("a", "b"), edge("b", "a"), edge("c", "a")].into();
    let found = problems(&cyclic, &modules, layers);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("cycle a -> b -> a"), "{found:?}");

    let upward: Edges = [edge("a", "c")].into();
    let found = problems(&upward, &modules, layers);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("a (low) uses c (high)"), "{found:?}");

    let more: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
    assert!(problems(&fine, &more, layers)[0].contains("module d has no layer"));
}

#[test]
fn the_parser_reads_groups_code_paths_and_super_chains_but_not_comments_strings_or_tests() {
    let src = r##"
//! Docs naming crate::docs, which do not count.
use crate::{a::X, b, c::{D, e::F}};
use crate::g::H as _;
/* crate::block /* nested crate::nested */ */
fn f() -> String {
    let _ = crate::h::call();
    let _ = super::super::i::J;
    let _ = super::sibling::K;
    let c = '"'; let l: &'static str = "crate::in_string";
    let r = r#"crate::in_raw " string"#;
    format!("{c}{l}{r}")
}
#[cfg(test)]
mod tests {
    use crate::t::Fixture;
}
use crate::last::L;
"##;
    let (kept, tests) = split_tests(&code_only(src));
    let path = ["m".to_string(), "n".to_string()];
    let names: Vec<String> = named_modules(&kept, &path, "crate").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a", "b", "c", "g", "h", "i", "last"]);
    let in_tests: Vec<String> = named_modules(&tests, &path, "crate").into_iter().map(|(n, _)| n).collect();
    assert_eq!(in_tests, ["t"]);
    // From a top-level module's own file, one `super` is already the crate root.
    assert_eq!(named_modules("super::x::Y", &["m".to_string()], "crate")[0].0, "x");
}
