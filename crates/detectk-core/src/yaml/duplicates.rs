//! Finding the lines a duplicated key is written on.
//!
//! The YAML library does not report positions of keys, so the text is scanned: block
//! mappings are followed by indentation (sequence items count as one level), and keys of
//! flow mappings (`{a: 1, a: 2}`) are found on the lines of their parent key.

use std::collections::BTreeSet;

/// 1-based lines where the key at `path` (dotted, `[i]` for sequence items) is written.
pub fn lines_of(text: &str, path: &str) -> Vec<usize> {
    let target = normalize(path);
    let Some((parent, key)) = split_last(&target) else {
        return Vec::new();
    };
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut found = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = line.len() - trimmed.len();
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let mut rest = trimmed;
        while let Some(r) = rest.strip_prefix('-').filter(|r| r.starts_with(' ')) {
            stack.push((indent, "[]".to_string()));
            let after = r.trim_start();
            indent += rest.len() - after.len();
            rest = after;
        }
        let current: Vec<&str> = stack.iter().map(|(_, s)| s.as_str()).collect();
        if let Some((name, value)) = block_key(rest) {
            let here = current.join(".");
            if here == parent && name == key {
                found.insert(index + 1);
            }
            // A flow mapping as the value: `parent: {key: 1, key: 2}`.
            let full = if here.is_empty() {
                name.to_string()
            } else {
                format!("{here}.{name}")
            };
            if full == parent && value.starts_with('{') && has_flow_key(value, key) {
                found.insert(index + 1);
            }
            stack.push((indent, name.to_string()));
        }
    }
    found.into_iter().collect()
}

/// `a.b[0].c` -> `a.b.[].c`: sequence indexes become one `[]` segment.
fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str("[]");
                in_index = true;
            }
            ']' => in_index = false,
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

fn split_last(path: &str) -> Option<(&str, &str)> {
    match path.rsplit_once('.') {
        Some((parent, key)) => Some((parent, key)),
        None if !path.is_empty() => Some(("", path)),
        None => None,
    }
}

/// `key: value` at the start of a block line: the key and the rest after `: `.
fn block_key(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(['{', '[', '"', '\'', '|', '>', '&', '*', '!']) {
        return None;
    }
    let colon = line
        .char_indices()
        .find(|(i, c)| *c == ':' && line[i + 1..].chars().next().is_none_or(char::is_whitespace))
        .map(|(i, _)| i)?;
    let name = line[..colon].trim_end();
    (!name.is_empty()).then(|| (name, line[colon + 1..].trim_start()))
}

fn has_flow_key(value: &str, key: &str) -> bool {
    value.split(['{', ',']).any(|part| {
        part.trim_start()
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with(':'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_block_keys_by_path() {
        let text = "a:\n  b: 1\n  b: 2\nc:\n  b: 3\n";
        assert_eq!(lines_of(text, "a.b"), vec![2, 3]);
        assert_eq!(lines_of(text, "c.b"), vec![5]);
    }

    #[test]
    fn follows_sequence_items() {
        let text = "detectors:\n  - type: mad\n    params:\n      n: 1\n      n: 2\n";
        assert_eq!(lines_of(text, "detectors[0].params.n"), vec![4, 5]);
    }
}
