//! One ClickHouse server: a shared HTTP client, a bound on concurrent requests, and
//! what the server told us about itself (version, time zone, supported settings).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono_tz::Tz;
use detectk_core::{BackendError, BackendErrorKind};
use tokio::sync::{OnceCell, Semaphore};

use crate::config::ConnectionConfig;
use crate::error::{connect_error, map_error, timeout};

/// Requests in flight per server, over all metrics of the process.
pub const MAX_CONCURRENT_REQUESTS: usize = 8;

/// A `major.minor.patch` server version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    /// Major version (18, 24, ...).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl ServerVersion {
    /// Parses the text of `SELECT version()` (`18.16.1`, `24.3.2.23`).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        Some(Self {
            major: parts.next()??,
            minor: parts.next().flatten().unwrap_or(0),
            patch: parts.next().flatten().unwrap_or(0),
        })
    }

    /// Whether this version is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What the server reported about itself on first use.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `SELECT version()`.
    pub version: ServerVersion,
    /// `SELECT timezone()`: the zone plain `DateTime` values are rendered in.
    pub timezone: Tz,
    /// Whether the server knows `date_time_output_format` (then DateTime is rendered
    /// in UTC ISO form, which is unambiguous across DST changes).
    pub iso_datetime_output: bool,
}

/// Identity of a server login, for sharing clients between metrics.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ServerKey {
    url: String,
    user: String,
    password: String,
}

/// A shared connection to one ClickHouse server (one login). Cheap to share via `Arc`.
pub struct Server {
    name: String,
    client: clickhouse::Client,
    permits: Arc<Semaphore>,
    info: OnceCell<ServerInfo>,
    settings_refused: AtomicBool,
    /// Host and port, for the TCP check before the first request.
    address: (String, u16),
    connect_timeout: Duration,
    /// Set once a TCP connection to the server succeeded.
    reachable: OnceCell<()>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("server", &self.name)
            .field("info", &self.info.get())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server handle with its own request limit; nothing is connected until the first request.
    pub fn new(config: &ConnectionConfig) -> Self {
        Self::with_permits(config, Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)))
    }

    /// A server handle drawing request slots from `permits` (shared by all logins to one server).
    fn with_permits(config: &ConnectionConfig, permits: Arc<Semaphore>) -> Self {
        let mut client = clickhouse::Client::default()
            .with_url(config.url())
            .with_user(config.user.clone())
            // 18.16 knows neither RowBinaryWithNamesAndTypes nor the settings validation needs.
            .with_validation(false);
        if !config.password.is_empty() {
            client = client.with_password(config.password.expose());
        }
        Self {
            name: config.server(),
            client,
            permits,
            info: OnceCell::new(),
            settings_refused: AtomicBool::new(false),
            address: (config.host.clone(), config.port),
            connect_timeout: config.connect_timeout,
            reachable: OnceCell::new(),
        }
    }

    /// `host:port`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client without a default database.
    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }

    /// Runs `op` with a request slot of this server, bounded by `limit`.
    pub async fn run<T, F>(&self, what: &str, limit: Duration, op: F) -> Result<T, BackendError>
    where
        F: Future<Output = Result<T, clickhouse::error::Error>>,
    {
        self.check_reachable().await?;
        let started = std::time::Instant::now();
        let work = async {
            let _permit = self.permits.acquire().await.map_err(|_| {
                BackendError::new(BackendErrorKind::Other, &self.name, "server handle closed")
            })?;
            op.await.map_err(|e| map_error(&self.name, what, e))
        };
        let result = tokio::time::timeout(limit, work)
            .await
            .map_err(|_| timeout(&self.name, what, limit))
            .and_then(|r| r);
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(_) => {
                tracing::debug!(server = %self.name, what, elapsed_ms, "clickhouse request done")
            }
            Err(e) => {
                tracing::debug!(server = %self.name, what, elapsed_ms, error = %e, "clickhouse request failed")
            }
        }
        result
    }

    /// Until one succeeds, a plain TCP connect to the server within `connect_timeout`:
    /// a refused connection or an unknown host fails here at once, and a server that
    /// does not answer fails after `connect_timeout` rather than the whole `timeout`.
    pub async fn check_reachable(&self) -> Result<(), BackendError> {
        self.reachable
            .get_or_try_init(|| async {
                let (host, port) = &self.address;
                let connect = tokio::net::TcpStream::connect((host.as_str(), *port));
                match tokio::time::timeout(self.connect_timeout, connect).await {
                    Ok(Ok(_stream)) => Ok(()),
                    Ok(Err(e)) => Err(connect_error(&self.name, &e)),
                    Err(_) => Err(BackendError::new(
                        BackendErrorKind::Connect,
                        &self.name,
                        format!(
                            "connecting: no answer within {}s (param `connect_timeout`)",
                            self.connect_timeout.as_secs_f64()
                        ),
                    )
                    .with_hint("check `host`, `port` and firewalls, or raise `connect_timeout`")
                    .transient()),
                }
            })
            .await
            .map(|_| ())
    }

    /// Whether the login refused per-query settings (a `readonly = 1` user).
    pub fn settings_refused(&self) -> bool {
        self.settings_refused.load(Ordering::Relaxed)
    }

    /// Remembers that this login cannot change settings.
    pub fn refuse_settings(&self) {
        if !self.settings_refused.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                server = %self.name,
                "the ClickHouse user is read-only (readonly = 1) and may not change output settings; \
                 NaN and infinite values will arrive as NULL"
            );
        }
    }

    /// Version, time zone and capabilities, asked once and then cached.
    pub async fn info(&self, limit: Duration) -> Result<&ServerInfo, BackendError> {
        self.info.get_or_try_init(|| self.probe(limit)).await
    }

    async fn probe(&self, limit: Duration) -> Result<ServerInfo, BackendError> {
        let full = "SELECT version(), timezone(), \
                    toUInt8((SELECT count() FROM system.settings WHERE name = 'date_time_output_format') > 0)";
        let probed: Result<(String, String, u8), _> = self
            .run("probe server", limit, self.client.query(full).fetch_one())
            .await;
        let (version, zone, iso) = match probed {
            // A user without access to system.settings: assume the setting is unknown.
            Err(e) if e.kind == BackendErrorKind::Query => {
                tracing::debug!(server = %self.name, error = %e, "settings check refused");
                let basic = "SELECT version(), timezone()";
                let (version, zone): (String, String) = self
                    .run("probe server", limit, self.client.query(basic).fetch_one())
                    .await?;
                (version, zone, 0)
            }
            other => other?,
        };
        let version = ServerVersion::parse(&version).ok_or_else(|| {
            BackendError::new(
                BackendErrorKind::Other,
                &self.name,
                format!("unexpected server version {version:?}"),
            )
        })?;
        let timezone: Tz = zone.parse().map_err(|_| {
            BackendError::new(
                BackendErrorKind::Unsupported,
                &self.name,
                format!("the server time zone {zone:?} is unknown to DetectK"),
            )
        })?;
        tracing::debug!(server = %self.name, %version, %timezone, "ClickHouse server probed");
        Ok(ServerInfo {
            version,
            timezone,
            iso_datetime_output: iso == 1,
        })
    }
}

/// Shares one [`Server`] among all collectors and storages using the same login, and
/// one request limit among all logins to the same server URL.
#[derive(Default)]
pub struct ServerCache {
    servers: Mutex<HashMap<ServerKey, Arc<Server>>>,
    permits: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl fmt::Debug for ServerCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.servers.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("ServerCache").field("servers", &n).finish()
    }
}

impl ServerCache {
    /// The shared server for `config` (created on first request, without connecting).
    pub fn get(&self, config: &ConnectionConfig) -> Arc<Server> {
        let key = ServerKey {
            url: config.url(),
            user: config.user.clone(),
            password: config.password.expose().to_string(),
        };
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        servers
            .entry(key)
            .or_insert_with(|| {
                let permits = self
                    .permits
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(config.url())
                    .or_insert_with(|| Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)))
                    .clone();
                Arc::new(Server::with_permits(config, permits))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare() {
        let v = ServerVersion::parse("18.16.1").unwrap();
        assert_eq!(v.to_string(), "18.16.1");
        assert!(v.at_least(18, 16) && !v.at_least(19, 1));
        assert!(ServerVersion::parse("24.3.2.23").unwrap().at_least(20, 1));
        assert!(ServerVersion::parse("x").is_none());
    }

    #[test]
    fn cache_shares_per_login() {
        let cache = ServerCache::default();
        let a = ConnectionConfig::default();
        let mut b = a.clone();
        b.database = "other".into();
        let mut c = a.clone();
        c.password = detectk_core::Secret::new("pw");
        assert!(Arc::ptr_eq(&cache.get(&a), &cache.get(&b)));
        assert!(!Arc::ptr_eq(&cache.get(&a), &cache.get(&c)));
        // Another login to the same server shares the request limit.
        assert!(Arc::ptr_eq(&cache.get(&a).permits, &cache.get(&c).permits));
        let mut d = a.clone();
        d.port = 8124;
        assert!(!Arc::ptr_eq(&cache.get(&a).permits, &cache.get(&d).permits));
        assert!(!format!("{cache:?}").contains("pw"));
    }
}
