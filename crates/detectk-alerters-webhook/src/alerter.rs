//! The generic webhook alerter, through the shared [`HttpSender`].

use async_trait::async_trait;
use detectk_core::alert::{HttpBody, HttpRequest, HttpSender, url_host};
use detectk_core::{AlertError, AlertErrorKind, AlertMessage, Alerter};

use crate::body::{default_body, render_body};
use crate::params::GenericWebhookParams;

/// Sends alerts to any HTTP endpoint.
///
/// `Debug`, [`Alerter::describe`] and errors never show the URL or header values.
#[derive(Debug)]
pub struct GenericWebhookAlerter {
    params: GenericWebhookParams,
    sender: HttpSender,
}

impl GenericWebhookAlerter {
    /// An alerter for these params (builds nothing, sends nothing: the shared HTTP client is built on the first request).
    pub fn new(params: GenericWebhookParams) -> Self {
        let sender = HttpSender::new("webhook", params.timeout, params.retry);
        Self { params, sender }
    }

    /// The body sent for `message`.
    pub fn body(&self, message: &AlertMessage) -> Result<HttpBody, AlertError> {
        match &self.params.body_template {
            None => Ok(HttpBody::Json(default_body(message))),
            Some(template) => render_body(template, message, self.params.is_json())
                .map(|text| HttpBody::Text {
                    content_type: self.params.content_type.clone(),
                    text,
                })
                .map_err(|problem| AlertError::new(AlertErrorKind::Template, "webhook", problem)),
        }
    }
}

#[async_trait]
impl Alerter for GenericWebhookAlerter {
    fn describe(&self) -> String {
        format!(
            "webhook ({} {})",
            self.params.method,
            url_host(self.params.url.expose())
        )
    }

    async fn send(&self, message: &AlertMessage) -> Result<(), AlertError> {
        let body = self.body(message)?;
        let request = HttpRequest {
            method: &self.params.method,
            url: &self.params.url,
            headers: &self.params.headers,
            body: &body,
        };
        self.sender.send(&request, &[]).await.map(|_| ())
    }

    async fn check(&self) -> Result<Option<String>, AlertError> {
        let host = url_host(self.params.url.expose());
        self.sender.check(&self.params.url, &host).await
    }
}
