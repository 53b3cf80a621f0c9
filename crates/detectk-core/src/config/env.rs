//! `${VAR}` and `${VAR:-default}` substitution in raw config text.

/// Replaces `${VAR}` and `${VAR:-default}` using `lookup`. `$${` is kept as a literal `${`,
/// and lines that are YAML comments (first non-blank character `#`) are left alone.
/// Returns the names of required variables that are not set (each once).
///
/// ```
/// use detectk_core::config::substitute_env;
/// let (text, missing) = substitute_env("a: ${A}\nb: ${B:-x}\nc: ${C}", |k| (k == "A").then(|| "1".to_string()));
/// assert_eq!(text, "a: 1\nb: x\nc: ");
/// assert_eq!(missing, vec!["C".to_string()]);
/// ```
pub fn substitute_env(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut missing: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            substitute_line(line, &lookup, &mut out, &mut missing);
        }
    }
    (out, missing)
}

fn substitute_line(
    line: &str,
    lookup: &impl Fn(&str) -> Option<String>,
    out: &mut String,
    missing: &mut Vec<String>,
) {
    let mut rest = line;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[pos..]);
            return;
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n.trim(), Some(d)),
            None => (inner.trim(), None),
        };
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            out.push_str(&rest[pos..pos + 3 + end]);
        } else {
            match (
                lookup(name).filter(|v| !v.is_empty() || default.is_none()),
                default,
            ) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    if !missing.iter().any(|m| m == name) {
                        missing.push(name.to_string());
                    }
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "HOST" => Some("db".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_and_defaults() {
        let (t, m) = substitute_env(
            "h=${HOST} p=${PORT:-5432} e=${EMPTY:-d} x=$${HOST} q={{ x }}",
            env,
        );
        assert_eq!(t, "h=db p=5432 e=d x=${HOST} q={{ x }}");
        assert!(m.is_empty());
    }

    #[test]
    fn reports_each_missing_variable_once() {
        let (_, m) = substitute_env("${A} ${B} ${A}", env);
        assert_eq!(m, vec!["A", "B"]);
    }

    #[test]
    fn comment_lines_are_not_substituted() {
        let (t, m) = substitute_env("# uses ${NOPE}\na: ${HOST} # trailing\n", env);
        assert_eq!(t, "# uses ${NOPE}\na: db # trailing\n");
        assert!(m.is_empty());
    }

    #[test]
    fn leaves_non_variables_alone() {
        let (t, m) = substitute_env("${not a var} ${unterminated", env);
        assert_eq!(t, "${not a var} ${unterminated");
        assert!(m.is_empty());
    }
}
