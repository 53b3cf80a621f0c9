//! `connection_string`: `clickhouse://user:password@host:port/database?secure=true`.

use detectk_core::Secret;

/// Settings given explicitly (by keys or a connection string).
#[derive(Debug, Default)]
pub(super) struct Layer {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) secure: Option<bool>,
    pub(super) database: Option<String>,
    pub(super) user: Option<String>,
    pub(super) password: Option<Secret>,
}

/// Parses `clickhouse://user:password@host:port/database?secure=true` (also
/// `clickhouses://`, `http://`, `https://`).
pub(super) fn parse_connection_string(text: &str) -> Result<Layer, String> {
    // Never echo the string itself: it may hold a password.
    let url = url::Url::parse(text).map_err(|e| {
        format!("not a valid URL ({e}); expected clickhouse://user:password@host:port/database")
    })?;
    let mut layer = Layer::default();
    match url.scheme() {
        "clickhouse" | "ch" | "http" | "clickhouse+http" | "clickhouse+native" => {}
        "clickhouses" | "https" | "clickhouse+https" => layer.secure = Some(true),
        other => {
            return Err(format!(
                "unsupported scheme `{other}`; expected clickhouse://, clickhouses://, http:// or https://"
            ));
        }
    }
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err("has no host".into());
    }
    layer.host = Some(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    );
    // For http(s):// an omitted port means 80 / 443, as in any URL; the clickhouse
    // schemes have no default of their own and fall back to 8123 / 8443.
    layer.port = match url.scheme() {
        "http" | "https" => url.port_or_known_default(),
        _ => url.port(),
    };
    if !url.username().is_empty() {
        layer.user = Some(decode(url.username()));
    }
    if let Some(password) = url.password() {
        layer.password = Some(Secret::new(decode(password)));
    }
    let database = url.path().trim_matches('/');
    if !database.is_empty() {
        layer.database = Some(decode(database));
    }
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "secure" => match value.as_ref() {
                "true" | "1" | "yes" | "True" => layer.secure = Some(true),
                "false" | "0" | "no" | "False" => layer.secure = Some(false),
                other => return Err(format!("query parameter secure={other:?} is not a boolean")),
            },
            "database" => layer.database = Some(value.into_owned()),
            "user" => layer.user = Some(value.into_owned()),
            other => {
                return Err(format!(
                    "unknown query parameter `{other}`; supported: secure, database, user"
                ));
            }
        }
    }
    Ok(layer)
}

/// Percent-decodes a URL component (`p%40ss` -> `p@ss`).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_part() {
        let l = parse_connection_string("clickhouse://bob:p%40ss@db.local:9000/analytics").unwrap();
        assert_eq!(l.host.as_deref(), Some("db.local"));
        assert_eq!(l.port, Some(9000));
        assert_eq!(l.user.as_deref(), Some("bob"));
        assert_eq!(l.password.unwrap().expose(), "p@ss");
        assert_eq!(l.database.as_deref(), Some("analytics"));
        assert_eq!(l.secure, None);
    }

    #[test]
    fn schemes_and_query_parameters() {
        assert_eq!(
            parse_connection_string("clickhouses://h").unwrap().secure,
            Some(true)
        );
        assert_eq!(
            parse_connection_string("https://h:443/").unwrap().port,
            Some(443)
        );
        let l = parse_connection_string("clickhouse://[::1]:8123/?secure=true&database=x").unwrap();
        assert_eq!(l.host.as_deref(), Some("::1"));
        assert_eq!((l.secure, l.database.as_deref()), (Some(true), Some("x")));
        assert!(
            parse_connection_string("clickhouse://h/?compress=1")
                .unwrap_err()
                .contains("unknown query parameter `compress`")
        );
        assert!(
            parse_connection_string("clickhouse:///db")
                .unwrap_err()
                .contains("no host")
        );
    }

    #[test]
    fn decodes_percent_escapes_and_keeps_broken_ones() {
        assert_eq!(decode("a%20b%2Fc"), "a b/c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }
}
