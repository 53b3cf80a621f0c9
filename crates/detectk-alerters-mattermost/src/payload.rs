//! The JSON body of a Mattermost incoming-webhook post.

use detectk_core::AlertMessage;
use detectk_core::alert::WebhookParams;
use serde_json::{Map, Value};

/// The webhook body for `message`: the text plus the username, icon and channel
/// overrides that are set (`icon_url` wins over `icon_emoji`).
pub fn payload(message: &AlertMessage, params: &WebhookParams) -> Value {
    let mut body = Map::new();
    body.insert("text".into(), message.text.clone().into());
    let overrides = [
        ("username", &params.username),
        ("icon_url", &params.icon_url),
        ("channel", &params.channel),
    ];
    for (key, value) in overrides {
        if let Some(v) = value {
            body.insert(key.into(), v.clone().into());
        }
    }
    if params.icon_url.is_none()
        && let Some(emoji) = &params.icon_emoji
    {
        body.insert("icon_emoji".into(), emoji.clone().into());
    }
    Value::Object(body)
}
