//! Secrets (passwords, webhook URLs, DSNs) that never reach logs, errors or `Debug`.

use std::fmt;

/// A string that prints as `***` in `Debug` and `Display`.
///
/// ```
/// use detectk_core::Secret;
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is handed to a client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// Masks the password of a URL-style DSN: `postgres://u:pw@h/db` -> `postgres://u:***@h/db`.
///
/// ```
/// use detectk_core::mask_dsn;
/// assert_eq!(mask_dsn("postgresql://bob:s3cr3t@db:5432/x"), "postgresql://bob:***@db:5432/x");
/// assert_eq!(mask_dsn("sqlite:///data.db"), "sqlite:///data.db");
/// ```
pub fn mask_dsn(dsn: &str) -> String {
    let Some(scheme_end) = dsn.find("://") else {
        return dsn.to_string();
    };
    let rest = &dsn[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return dsn.to_string();
    };
    let userinfo = &authority[..at];
    let masked = match userinfo.find(':') {
        Some(colon) => format!("{}:***", &userinfo[..colon]),
        None => userinfo.to_string(),
    };
    format!("{}{}{}", &dsn[..scheme_end + 3], masked, &rest[at..])
}

/// Keys whose values are secrets wherever they appear in params.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.contains("token")
        || k.contains("webhook")
        || k == "connection_string"
        || k == "dsn"
        || k == "url"
        || k.ends_with("_url")
        || k == "api_key"
}

/// A copy of `value` with every secret-looking key's value replaced by `***`
/// (DSNs keep everything but the password).
pub fn redact_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) {
                        match v {
                            Value::String(s) if k == "connection_string" || k == "dsn" => {
                                let masked = mask_dsn(s);
                                if masked == *s && s.contains('@') {
                                    Value::String("***".into())
                                } else {
                                    Value::String(masked)
                                }
                            }
                            Value::Null => Value::Null,
                            _ => Value::String("***".into()),
                        }
                    } else {
                        redact_json(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_password_in_dsns() {
        assert_eq!(
            mask_dsn("mysql+pymysql://root:pw@127.0.0.1:3306/test?x=1"),
            "mysql+pymysql://root:***@127.0.0.1:3306/test?x=1"
        );
        assert_eq!(
            mask_dsn("postgres://user@host/db"),
            "postgres://user@host/db"
        );
        assert_eq!(mask_dsn("not a url"), "not a url");
    }

    #[test]
    fn redacts_nested_secrets() {
        let v = json!({"host": "h", "password": "pw", "nested": {"webhook_url": "https://x/hook"},
                       "connection_string": "postgresql://a:b@h/db"});
        let r = redact_json(&v);
        assert_eq!(r["password"], "***");
        assert_eq!(r["nested"]["webhook_url"], "***");
        assert_eq!(r["connection_string"], "postgresql://a:***@h/db");
        assert_eq!(r["host"], "h");
        assert!(!r.to_string().contains("pw"));
    }
}
