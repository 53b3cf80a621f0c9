use serde::Serialize;

use crate::config::Params;

/// What `alerter` says beyond the channel: whether to send, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertSettings {
    /// `alerter.enabled`: false means detect and store, never send.
    pub enabled: bool,
    /// Minutes after a sent alert during which further anomaly alerts are held back.
    pub cooldown_minutes: u64,
}

impl AlertSettings {
    /// Reads the policy from `alerter.params` (keys the core handles for every channel,
    /// such as `cooldown_minutes`) and `alerter.conditions`.
    pub fn parse(enabled: bool, params: &mut Params<'_>, conditions: &mut Params<'_>) -> Self {
        let in_params: Option<u64> = params.optional("cooldown_minutes");
        let in_conditions: Option<u64> = conditions.optional("cooldown_minutes");
        if let (Some(a), Some(b)) = (in_params, in_conditions)
            && a != b
        {
            conditions.error(
                "cooldown_minutes",
                format!("is {b} but alerter.params.cooldown_minutes is {a}; set it in one place"),
            );
        }
        Self {
            enabled,
            cooldown_minutes: in_conditions.or(in_params).unwrap_or(60),
        }
    }
}
