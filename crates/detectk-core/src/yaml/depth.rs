//! A linear pre-scan that rejects deeply nested YAML before the YAML library parses it.
//!
//! The estimate counts flow brackets (`[`, `{`) that open a collection, block
//! indentation levels and `- ` sequence markers. It is an upper bound for real configs
//! (which nest 5 or 6 levels) and cheap for hostile input (200,000 brackets).

use super::YamlError;

/// Deepest nesting a config file may have. Metric configs need about 6 levels.
pub const MAX_DEPTH: usize = 64;

/// Rejects `text` when it nests deeper than [`MAX_DEPTH`].
pub fn check(text: &str) -> Result<(), YamlError> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut block = 0;
        if flow == 0 {
            let indent = line.len() - trimmed.len();
            while indents.last().is_some_and(|i| *i > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
            let mut rest = trimmed;
            while let Some(r) = rest
                .strip_prefix('-')
                .filter(|r| r.is_empty() || r.starts_with(' '))
            {
                block += 1;
                rest = r.trim_start();
            }
            block += indents.len();
        }
        flow = flow_depth(trimmed, flow, block, index + 1)?;
        if block + flow > MAX_DEPTH {
            return Err(too_deep(index + 1));
        }
    }
    Ok(())
}

fn too_deep(line: usize) -> YamlError {
    YamlError {
        message: format!(
            "the document is nested more than {MAX_DEPTH} levels deep; a metric config needs far fewer"
        ),
        line: Some(line),
        column: None,
    }
}

/// Flow depth after `line`, starting at `depth`. A bracket opens a collection when it
/// follows the start of a value (line start, `:`, `-`, `,`, `?` or another bracket);
/// brackets inside quotes and plain text do not count.
fn flow_depth(
    line: &str,
    mut depth: usize,
    block: usize,
    line_no: usize,
) -> Result<usize, YamlError> {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    let mut at_value_start = true;
    for c in line.chars() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            previous = c;
            continue;
        }
        match c {
            '#' if previous == ' ' || previous == '\t' => break,
            '"' | '\'' if at_value_start => quote = Some(c),
            '[' | '{' if at_value_start => {
                depth += 1;
                if depth + block > MAX_DEPTH {
                    return Err(too_deep(line_no));
                }
            }
            ']' | '}' if depth > 0 => depth -= 1,
            _ => {}
        }
        if !c.is_whitespace() {
            at_value_start = matches!(c, ':' | '-' | ',' | '?' | '[' | '{');
        }
        previous = c;
    }
    Ok(depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_configs_pass() {
        let text = "name: m\ncollector:\n  params:\n    query: \"SELECT '[' AS x\"\n    list: [a, [b, {c: d}]]\ndetectors:\n  - type: mad\n    params: {window_size: 30 days}\ndescription: plain [text with { brackets\n";
        assert!(check(text).is_ok());
    }

    #[test]
    fn deep_flow_block_and_sequence_nesting_fail() {
        assert!(check(&"[".repeat(65)).is_err());
        assert!(check(&"[".repeat(60)).is_ok());
        let block: String = (0..70)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert_eq!(check(&block).unwrap_err().line, Some(65));
        assert!(check(&format!("{}x", "- ".repeat(80))).is_err());
    }
}
