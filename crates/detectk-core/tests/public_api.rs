//! Pins the public surface of `detectk-core` to `tests/public-api.txt`.
//!
//! The crate's source is walked from `src/lib.rs` along `pub mod` declarations (stable
//! rustdoc has no machine-readable output, so this reads the rustfmt-formatted source).
//! In every public module it lists the `pub` items at the top level, the names its
//! `pub use` lines re-export, the `pub` methods of its `impl` blocks and the `pub`
//! fields of its structs. Items under `#[cfg(test)]` or `#[doc(hidden)]` (unstable test
//! hooks) and the feature-gated `testkit` are left out.
//!
//! A change to the surface fails this test with the lines added and removed; when the
//! change is intended, rerun with `UPDATE_PUBLIC_API=1` and commit the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ITEM_KINDS: &[&str] = &[
    "fn", "async fn", "struct", "enum", "trait", "const", "static", "type", "mod",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The file of module `name` declared in `file`.
fn module_file(file: &Path, name: &str) -> PathBuf {
    let dir = if file.ends_with("lib.rs") || file.ends_with("mod.rs") {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

/// `pub <kind> <name>` at the start of `line` (after `pub `), if it is one.
fn item(rest: &str) -> Option<(&'static str, String)> {
    for kind in ITEM_KINDS {
        if let Some(after) = rest.strip_prefix(kind).and_then(|r| r.strip_prefix(' ')) {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            return Some((kind, name));
        }
    }
    None
}

/// The names a `pub use` statement re-exports (the last segment of each path, or its alias).
fn reexports(statement: &str) -> Vec<String> {
    let body = statement
        .trim_start_matches("pub use ")
        .trim_end_matches(';');
    let mut names = Vec::new();
    let mut current = String::new();
    for c in body.chars() {
        if matches!(c, '{' | '}' | ',') {
            names.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    names.push(current);
    names
        .into_iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty() && !n.ends_with("::"))
        .map(|n| match n.split_once(" as ") {
            Some((_, alias)) => alias.trim().to_string(),
            None => n.rsplit("::").next().unwrap_or_default().to_string(),
        })
        .collect()
}

/// What the walk finds: public items by path, and the public methods and fields of
/// every type by the type's name (wherever it is defined; listed for public types).
#[derive(Default)]
struct Found {
    items: BTreeSet<String>,
    members: BTreeMap<String, BTreeSet<String>>,
}

/// Walks the module in `file` (named `path`; `public` when reachable from the crate root).
fn walk(file: &Path, path: &str, public: bool, found: &mut Found) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let lines: Vec<&str> = text.lines().collect();
    let mut hidden = false;
    let mut owner: Option<String> = None; // the type of the `impl` or `pub struct` block we are in
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.starts_with("#[cfg(test)]") || line.starts_with("#[doc(hidden)]") {
            hidden = true;
            continue;
        }
        if line.starts_with("#[") || line.starts_with("///") || line.starts_with("//") {
            continue;
        }
        if line == "}" {
            owner = None;
            continue;
        }
        if let Some(rest) = line.strip_prefix("    pub ") {
            // A method of an impl block, or a field of a public struct.
            if let Some(ty) = &owner {
                let member = if let Some((kind, name)) = item(rest) {
                    format!("::{name} ({kind})")
                } else if let Some((field, _)) = rest.split_once(':') {
                    format!(".{field} (field)")
                } else {
                    continue;
                };
                found.members.entry(ty.clone()).or_default().insert(member);
            }
            continue;
        }
        if !line.starts_with(|c: char| c.is_alphanumeric()) {
            continue;
        }
        let was_hidden = std::mem::take(&mut hidden);
        if line.starts_with("impl") {
            // `impl Type {`, `impl<T> Type<T> {`, `impl Trait for Type {`: methods of inherent impls only.
            owner = (!line.contains(" for ") && line.ends_with('{') && !was_hidden).then(|| {
                let head = line.trim_end_matches('{').trim();
                let head = head.strip_prefix("impl").unwrap_or(head);
                let head = if head.starts_with('<') {
                    head.split_once('>').map(|(_, r)| r).unwrap_or(head)
                } else {
                    head
                };
                head.trim()
                    .split(['<', ' '])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            });
            continue;
        }
        // `mod x;` and `pub(crate) mod x;`: walked for the members of re-exported types.
        if let Some(name) = line
            .strip_prefix("mod ")
            .or_else(|| line.strip_prefix("pub(crate) mod "))
            .and_then(|r| r.strip_suffix(';'))
        {
            if !was_hidden {
                walk(
                    &module_file(file, name),
                    &format!("{path}::{name}"),
                    false,
                    found,
                );
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("pub ") else {
            continue;
        };
        if was_hidden {
            continue;
        }
        if rest.starts_with("use ") {
            let mut statement = line.to_string();
            while !statement.trim_end().ends_with(';') && i < lines.len() {
                statement.push_str(lines[i].trim());
                i += 1;
            }
            if public {
                for name in reexports(&statement) {
                    found.items.insert(format!("{path}::{name} (re-export)"));
                }
            }
            continue;
        }
        let Some((kind, name)) = item(rest) else {
            continue;
        };
        if public {
            found.items.insert(format!("{path}::{name} ({kind})"));
        }
        if kind == "mod" && rest.ends_with(';') && name != "testkit" {
            walk(
                &module_file(file, &name),
                &format!("{path}::{name}"),
                public,
                found,
            );
        }
        if kind == "struct" && line.ends_with('{') {
            owner = Some(name);
        }
    }
}

#[test]
fn the_public_api_is_the_committed_one() {
    let mut walked = Found::default();
    walk(&src().join("lib.rs"), "detectk_core", true, &mut walked);
    let mut found = BTreeSet::new();
    for entry in &walked.items {
        found.insert(entry.clone());
        let (item_path, _) = entry.split_once(' ').unwrap_or((entry, ""));
        let name = item_path.rsplit("::").next().unwrap_or_default();
        for member in walked.members.get(name).into_iter().flatten() {
            found.insert(format!("{item_path}{member}"));
        }
    }
    let text: String = found.iter().map(|l| format!("{l}\n")).collect();
    let pinned = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/public-api.txt");
    if std::env::var_os("UPDATE_PUBLIC_API").is_some() {
        std::fs::write(&pinned, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&pinned).unwrap_or_default();
    let committed: BTreeSet<String> = committed.lines().map(str::to_string).collect();
    let added: Vec<&String> = found.difference(&committed).collect();
    let removed: Vec<&String> = committed.difference(&found).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "the public API changed; if intended, rerun with UPDATE_PUBLIC_API=1 and commit \
         tests/public-api.txt\nadded:\n  {}\nremoved:\n  {}",
        added
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        removed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
    );
    assert!(
        found.len() > 50,
        "the walk found only {} items",
        found.len()
    );
}
