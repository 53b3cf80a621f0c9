//! Building the Mattermost alerter from config params through the registry.

use detectk_core::Registry;
use detectk_core::alert::AlertSettings;
use detectk_core::config::Params;
use serde_json::{Map, Value, json};

fn build(params: Value) -> (bool, Vec<String>, Vec<String>, String) {
    let mut registry = Registry::new();
    detectk_alerters_mattermost::register(&mut registry);
    let map: Map<String, Value> = params.as_object().cloned().unwrap();
    let conditions = Map::new();
    let mut p = Params::new(&map, "alerter.params");
    let mut c = Params::new(&conditions, "alerter.conditions");
    let _settings = AlertSettings::parse(true, &mut p, &mut c);
    let built = registry.alerter("mattermost").unwrap().build(p);
    let text = |list: &[detectk_core::ConfigIssue]| list.iter().map(|i| i.to_string()).collect();
    match built {
        Ok(b) => {
            let described = format!("{} {:?}", b.part.describe(), b.part);
            (true, Vec::new(), text(&b.warnings), described)
        }
        Err(e) => (false, text(&e.issues), text(&e.warnings), String::new()),
    }
}

#[test]
fn python_detectk_params_are_all_accepted() {
    let (ok, issues, _, described) = build(json!({
        "webhook_url": "https://chat.example.com/hooks/xyz789secret",
        "cooldown_minutes": 60,
        "username": "DetectK Bot",
        "icon_url": "https://example.com/i.png",
        "channel": "alerts",
        "timeout": 5,
        "max_retries": 2,
        "message_template": "{{ metric_name }} = {{ value }}",
    }));
    assert!(ok);
    assert!(issues.is_empty(), "{issues:?}");
    assert!(
        described.starts_with("mattermost (chat.example.com, channel alerts)"),
        "{described}"
    );
    assert!(!described.contains("xyz789secret"), "{described}");
}

#[test]
fn unknown_and_invalid_keys_are_reported() {
    let (ok, issues, _, _) =
        build(json!({"webhook_url": "chat.example.com/hooks/x", "usernme": "x"}));
    assert!(!ok);
    assert_eq!(
        issues,
        [
            "alerter.params.webhook_url: must start with https:// or http://",
            "alerter.params.usernme: unknown key",
        ]
    );
}
