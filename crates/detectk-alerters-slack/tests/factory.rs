//! Building the Slack alerter from config params through the registry.

use detectk_core::Registry;
use detectk_core::config::Params;
use serde_json::{Map, Value, json};

fn build(params: Value) -> (bool, Vec<String>, Vec<String>) {
    let mut registry = Registry::new();
    detectk_alerters_slack::register(&mut registry);
    let map: Map<String, Value> = params.as_object().cloned().unwrap();
    let p = Params::new(&map, "alerter.params");
    let text = |list: &[detectk_core::ConfigIssue]| list.iter().map(|i| i.to_string()).collect();
    match registry.alerter("slack").unwrap().build(p) {
        Ok(b) => {
            let shown = format!("{} {:?}", b.part.describe(), b.part);
            assert!(!shown.contains("T000/B000/XXXX"), "URL leaked: {shown}");
            (true, Vec::new(), text(&b.warnings))
        }
        Err(e) => (false, text(&e.issues), text(&e.warnings)),
    }
}

#[test]
fn accepts_a_slack_webhook() {
    let (ok, issues, warnings) = build(json!({
        "webhook_url": "https://hooks.slack.com/services/T000/B000/XXXX",
        "icon_emoji": ":bell:", "username": "bot", "channel": "#ops", "timeout": 3
    }));
    assert!(ok);
    assert!(issues.is_empty(), "{issues:?}");
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn warns_about_a_non_slack_host_without_showing_the_url() {
    let (ok, issues, warnings) = build(json!({"webhook_url": "http://127.0.0.1:9/T000/B000/XXXX"}));
    assert!(ok);
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(
        warnings,
        [
            "alerter.params.webhook_url: points to 127.0.0.1:9, not hooks.slack.com; fine for a Slack-compatible endpoint"
        ]
    );
}
