//! The params of the `email` alerter.

use std::time::Duration;

use detectk_core::Secret;
use detectk_core::alert::{RetryPolicy, delivery_params};
use detectk_core::config::Params;
use lettre::message::Mailbox;
use serde_json::Value;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Security {
    /// Plain connection upgraded with `STARTTLS`, which is required (port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption (a local relay; port 25).
    None,
}

impl Security {
    /// The usual port.
    pub fn default_port(self) -> u16 {
        match self {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        }
    }
}

/// Parsed `email` params.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EmailParams {
    /// The SMTP server.
    pub smtp_host: String,
    /// Its port.
    pub smtp_port: u16,
    /// How the connection is secured.
    pub security: Security,
    /// Login user, when the server needs one.
    pub username: Option<String>,
    /// Login password: a secret.
    pub password: Option<Secret>,
    /// The sender.
    pub from: Mailbox,
    /// The recipients (at least one).
    pub to: Vec<Mailbox>,
    /// Put before the alert title in the subject.
    pub subject_prefix: String,
    /// Timeout of one SMTP command.
    pub timeout: Duration,
    /// Retries of failed attempts.
    pub retry: RetryPolicy,
}

fn mailbox(params: &mut Params<'_>, key: &str, text: &str) -> Option<Mailbox> {
    match text.trim().parse::<Mailbox>() {
        Ok(m) => Some(m),
        Err(e) => {
            params.error(key, format!("{text:?} is not a valid email address ({e})"));
            None
        }
    }
}

impl EmailParams {
    /// Reads the params; problems are recorded in `params` (all of them).
    pub fn parse(params: &mut Params<'_>) -> Option<Self> {
        let smtp_host: Option<String> = params.required("smtp_host");
        let security = match params
            .choice("security", &["starttls", "tls", "none"], "starttls")
            .as_str()
        {
            "tls" => Security::Tls,
            "none" => Security::None,
            _ => Security::StartTls,
        };
        let smtp_port: u16 = params.or("smtp_port", security.default_port());
        params.check(smtp_port > 0, "smtp_port", || "must be 1 to 65535".into());
        let username: Option<String> = params.optional("username");
        let password: Option<Secret> = params.optional("password");
        if password.is_some() && username.is_none() {
            params.error("username", "is required when a password is set");
        }
        if username.is_some() && password.is_none() {
            params.error("password", "is required when a username is set");
        }
        let from_text: Option<String> = params.required("from");
        let from = from_text.and_then(|t| mailbox(params, "from", &t));
        let to_value: Option<Value> = params.required("to");
        let to_texts: Vec<String> = match to_value {
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            Some(_) => {
                params.error("to", "must be an address or a non-empty list of addresses");
                Vec::new()
            }
            None => Vec::new(),
        };
        let to: Vec<Mailbox> = to_texts
            .iter()
            .filter_map(|t| mailbox(params, "to", t))
            .collect();
        let subject_prefix: String = params.or("subject_prefix", "[DetectK] ".to_string());
        let (timeout, retry) = delivery_params(params);
        if params.has_issues() || to.is_empty() {
            return None;
        }
        let smtp_host = smtp_host?;
        if smtp_host.trim().is_empty() || smtp_host.contains(['/', ' ']) {
            params.error("smtp_host", "must be a host name or address");
            return None;
        }
        Some(Self {
            smtp_host,
            smtp_port,
            security,
            username,
            password,
            from: from?,
            to,
            subject_prefix,
            timeout,
            retry,
        })
    }
}
