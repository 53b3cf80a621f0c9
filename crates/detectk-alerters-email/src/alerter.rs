//! The email alerter: one SMTP transaction per attempt, retried by core's
//! [`deliver_scrubbing`].

use async_trait::async_trait;
use detectk_core::alert::{AttemptFailure, HttpReply, deliver_scrubbing};
use detectk_core::{AlertError, AlertErrorKind, AlertMessage, Alerter};
use lettre::message::{Message, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::body::{html_body, subject};
use crate::params::{EmailParams, Security};

/// Sends alerts by SMTP.
///
/// `Debug`, [`Alerter::describe`] and errors never show the password.
pub struct EmailAlerter {
    params: EmailParams,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for EmailAlerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailAlerter")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn error_text(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(&format!(": {c_text}"));
        }
        cause = c.source();
    }
    text
}

impl EmailAlerter {
    /// An alerter for these params (sets up the transport; connects to nothing).
    pub fn new(params: EmailParams) -> Result<Self, AlertError> {
        let tls = |host: &str| {
            TlsParameters::new(host.to_string()).map_err(|e| {
                AlertError::new(
                    AlertErrorKind::Other,
                    "email",
                    format!("could not set up TLS: {}", error_text(&e)),
                )
            })
        };
        let tls = match params.security {
            Security::StartTls => Tls::Required(tls(&params.smtp_host)?),
            Security::Tls => Tls::Wrapper(tls(&params.smtp_host)?),
            Security::None => Tls::None,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(params.smtp_host.as_str())
                .port(params.smtp_port)
                .tls(tls)
                .timeout(Some(params.timeout));
        if let (Some(user), Some(password)) = (&params.username, &params.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            params,
        })
    }

    /// The email for `message`: text and HTML alternatives.
    pub fn email(&self, message: &AlertMessage) -> Result<Message, AlertError> {
        let mut builder = Message::builder()
            .from(self.params.from.clone())
            .subject(subject(&self.params.subject_prefix, message));
        for to in &self.params.to {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                html_body(message),
            ))
            .map_err(|e| {
                AlertError::new(
                    AlertErrorKind::Other,
                    "email",
                    format!("could not build the message: {e}"),
                )
            })
    }

    async fn attempt(&self, email: &Message) -> Result<HttpReply, AttemptFailure> {
        match self.transport.send(email.clone()).await {
            Ok(response) => Ok(HttpReply {
                status: 250,
                retry_after: None,
                body: response.message().collect::<Vec<_>>().join(" "),
            }),
            Err(e) => {
                let text = error_text(&e);
                Err(if e.is_timeout() {
                    AttemptFailure::Timeout
                } else if e.is_permanent() {
                    AttemptFailure::Rejected(text)
                } else if e.is_transient() {
                    AttemptFailure::Transient(text)
                } else if e.is_tls() || e.is_client() {
                    AttemptFailure::Request(text)
                } else {
                    AttemptFailure::Connect(text)
                })
            }
        }
    }

    fn endpoint(&self) -> String {
        format!("{}:{}", self.params.smtp_host, self.params.smtp_port)
    }
}

#[async_trait]
impl Alerter for EmailAlerter {
    fn describe(&self) -> String {
        let n = self.params.to.len();
        format!(
            "email ({}, {n} recipient{})",
            self.endpoint(),
            if n == 1 { "" } else { "s" }
        )
    }

    async fn send(&self, message: &AlertMessage) -> Result<(), AlertError> {
        let email = self.email(message)?;
        let secrets: Vec<&detectk_core::Secret> = self.params.password.iter().collect();
        deliver_scrubbing("email", &self.params.retry, &secrets, || {
            self.attempt(&email)
        })
        .await
        .map(|_| ())
    }

    /// Connects, greets (and logs in, when configured) without sending a message.
    async fn check(&self) -> Result<Option<String>, AlertError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(Some(format!("{} accepted the connection", self.endpoint()))),
            Ok(false) => Err(AlertError::new(
                AlertErrorKind::Unavailable,
                "email",
                format!("{} did not answer as an SMTP server", self.endpoint()),
            )),
            Err(e) => {
                let secrets: Vec<&detectk_core::Secret> = self.params.password.iter().collect();
                Err(AlertError::new(
                    AlertErrorKind::Unavailable,
                    "email",
                    detectk_core::alert::scrub_all(
                        &format!("{} is not reachable: {}", self.endpoint(), error_text(&e)),
                        &secrets,
                    ),
                ))
            }
        }
    }
}
