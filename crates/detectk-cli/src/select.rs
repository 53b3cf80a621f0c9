//! `--select` / `--exclude`: `tag:NAME`, an exact metric name, or a glob on names.

use detectk_core::config::MetricConfig;
use globset::{Glob, GlobMatcher};

/// One selector.
#[derive(Debug, Clone)]
pub enum Selector {
    /// `tag:NAME`.
    Tag(String),
    /// A metric name or a glob on names.
    Name(GlobMatcher),
}

impl Selector {
    /// Parses `tag:x`, `name`, or `glob*`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(tag) = text.strip_prefix("tag:") {
            if tag.is_empty() {
                return Err("`tag:` needs a tag name, e.g. `tag:critical`".into());
            }
            return Ok(Selector::Tag(tag.to_string()));
        }
        let text = text.strip_prefix("name:").unwrap_or(text);
        Glob::new(text)
            .map(|g| Selector::Name(g.compile_matcher()))
            .map_err(|e| format!("invalid selector {text:?}: {e}"))
    }

    /// Whether the metric is selected.
    pub fn matches(&self, config: &MetricConfig) -> bool {
        match self {
            Selector::Tag(tag) => config.tags.iter().any(|t| t == tag),
            Selector::Name(glob) => glob.is_match(&config.name),
        }
    }
}

/// Parses every selector, or says which one is wrong.
pub fn parse_all(texts: &[String]) -> Result<Vec<Selector>, String> {
    texts.iter().map(|t| Selector::parse(t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use detectk_core::config::{LoadOptions, parse_config};

    fn metric(name: &str, tags: &str) -> MetricConfig {
        let yaml = format!(
            "name: {name}\ntags: [{tags}]\ncollector: {{type: sqlite, params: {{query: 'select 1'}}}}\ndetector: {{type: mad}}\n"
        );
        parse_config(&yaml, None, &LoadOptions::default())
            .unwrap()
            .config
    }

    #[test]
    fn selects_by_tag_name_and_glob() {
        let m = metric("sessions_10min", "critical, product");
        assert!(Selector::parse("tag:critical").unwrap().matches(&m));
        assert!(!Selector::parse("tag:other").unwrap().matches(&m));
        assert!(Selector::parse("sessions_10min").unwrap().matches(&m));
        assert!(Selector::parse("sessions_*").unwrap().matches(&m));
        assert!(!Selector::parse("orders_*").unwrap().matches(&m));
        assert!(Selector::parse("tag:").is_err());
    }
}
