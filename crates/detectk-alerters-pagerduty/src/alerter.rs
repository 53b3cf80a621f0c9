//! The PagerDuty alerter: one Events API v2 event per alert through the shared
//! [`HttpSender`].

use async_trait::async_trait;
use detectk_core::alert::{HttpBody, HttpRequest, HttpSender, url_host};
use detectk_core::{AlertError, AlertMessage, Alerter};
use serde_json::Value;

use crate::event::event;
use crate::params::PagerDutyParams;

/// Sends alerts as PagerDuty events.
///
/// `Debug`, [`Alerter::describe`] and errors never show the routing key.
#[derive(Debug)]
pub struct PagerDutyAlerter {
    params: PagerDutyParams,
    sender: HttpSender,
}

impl PagerDutyAlerter {
    /// An alerter for these params (builds nothing, sends nothing: the shared HTTP client is built on the first request).
    pub fn new(params: PagerDutyParams) -> Self {
        let sender = HttpSender::new("pagerduty", params.timeout, params.retry);
        Self { params, sender }
    }
}

#[async_trait]
impl Alerter for PagerDutyAlerter {
    fn describe(&self) -> String {
        format!("pagerduty ({})", url_host(self.params.url.expose()))
    }

    async fn send(&self, message: &AlertMessage) -> Result<(), AlertError> {
        let mut body = event(message, &self.params);
        if let Value::Object(map) = &mut body {
            map.insert(
                "routing_key".into(),
                self.params.routing_key.expose().into(),
            );
        }
        let body = HttpBody::Json(body);
        let request = HttpRequest {
            method: "POST",
            url: &self.params.url,
            headers: &[],
            body: &body,
        };
        self.sender
            .send(&request, &[&self.params.routing_key])
            .await
            .map(|_| ())
    }

    async fn check(&self) -> Result<Option<String>, AlertError> {
        let host = url_host(self.params.url.expose());
        self.sender.check(&self.params.url, &host).await
    }
}
