//! MySQL and MariaDB: a collector decoding every common column type by its real type,
//! and a storage keeping the `dtk_*` tables (UTC DATETIME(6) times, JSON context,
//! chunked multi-row upserts in the dialect MariaDB and MySQL share).

mod decode;
mod dialect;

pub(crate) use dialect::Mysql;

use sqlx::MySql;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

use crate::handle::{Backend, Handle};
use crate::pool::PoolCache;
use crate::settings::ServerSettings;

impl Backend for MySql {
    const DRIVER: crate::Driver = crate::Driver::Mysql;
    fn rows_affected(done: &sqlx::mysql::MySqlQueryResult) -> u64 {
        done.rows_affected()
    }

    fn decode_row(
        row: &sqlx::mysql::MySqlRow,
    ) -> Result<Vec<detectk_core::model::Cell>, crate::collect::DecodeFailure> {
        decode::decode_row(row)
    }
}

/// A shared, lazily connecting pool on one MySQL/MariaDB database.
pub(crate) type MysqlHandle = Handle<MySql>;

impl MysqlHandle {
    /// The pool for `s`, shared through `cache` with every user of the same settings.
    pub(crate) fn new(s: &ServerSettings, cache: &PoolCache) -> Self {
        Self::on_server(s, cache, || connect_options(s), None)
    }
}

fn connect_options(s: &ServerSettings) -> MySqlConnectOptions {
    // sqlx sets the session time zone to UTC (`+00:00`), so TIMESTAMP values and
    // UTC_TIMESTAMP() are UTC, and utf8mb4 as the character set.
    let mut o = MySqlConnectOptions::new()
        .host(&s.host)
        .port(s.port)
        .username(&s.user);
    if let Some(password) = &s.password {
        o = o.password(password.expose());
    }
    if let Some(database) = &s.database {
        o = o.database(database);
    }
    if let Some(mode) = &s.ssl_mode {
        o = o.ssl_mode(match mode.as_str() {
            "disable" => MySqlSslMode::Disabled,
            "require" => MySqlSslMode::Required,
            "verify-ca" => MySqlSslMode::VerifyCa,
            "verify-full" => MySqlSslMode::VerifyIdentity,
            _ => MySqlSslMode::Preferred,
        });
    }
    o
}
