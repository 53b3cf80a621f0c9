//! PostgreSQL: a collector decoding every common column type by its real type, and a
//! storage keeping the `dtk_*` tables (TIMESTAMPTZ times, JSONB context, bulk writes
//! through binary `COPY` and `UNNEST` upserts).

mod bulk;
#[cfg(test)]
mod bulk_equivalence;
mod copy;
mod copy_out;
mod decode;
mod dialect;
mod lane;

pub(crate) use dialect::Pg;

use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::handle::{Backend, Handle};
use crate::pool::PoolCache;
use crate::settings::ServerSettings;

impl Backend for Postgres {
    const DRIVER: crate::Driver = crate::Driver::Postgres;
    const QUERY_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

    fn rows_affected(done: &sqlx::postgres::PgQueryResult) -> u64 {
        done.rows_affected()
    }

    fn decode_row(
        row: &sqlx::postgres::PgRow,
    ) -> Result<Vec<detectk_core::model::Cell>, crate::collect::DecodeFailure> {
        decode::decode_row(row)
    }
}

/// A shared, lazily connecting pool on one PostgreSQL database.
pub(crate) type PgHandle = Handle<Postgres>;

impl PgHandle {
    /// The pool for `s`, shared through `cache` with every user of the same settings.
    pub(crate) fn new(s: &ServerSettings, cache: &PoolCache) -> Self {
        Self::on_server(s, cache, || connect_options(s), s.schema.clone())
    }
}

fn connect_options(s: &ServerSettings) -> PgConnectOptions {
    let mut o = PgConnectOptions::new()
        .host(&s.host)
        .port(s.port)
        .username(&s.user)
        .application_name("detectk")
        // The server cancels statements running past `timeout` itself, so the
        // connection stays usable (the collector's own deadline is a little later).
        .options([("statement_timeout", format!("{}ms", s.timeout.as_millis()))]);
    if let Some(password) = &s.password {
        o = o.password(password.expose());
    }
    if let Some(database) = &s.database {
        o = o.database(database);
    }
    if let Some(schema) = &s.schema {
        o = o.options([("search_path", format!("{schema},public"))]);
    }
    if let Some(mode) = &s.ssl_mode {
        o = o.ssl_mode(match mode.as_str() {
            "disable" => PgSslMode::Disable,
            "require" => PgSslMode::Require,
            "verify-ca" => PgSslMode::VerifyCa,
            "verify-full" => PgSslMode::VerifyFull,
            _ => PgSslMode::Prefer,
        });
    }
    o
}
