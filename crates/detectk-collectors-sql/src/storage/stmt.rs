//! A statement written once with `?` for every parameter, sent with the driver's own
//! placeholders (`$1` on PostgreSQL) and values encoded the dialect's way.

use chrono::{DateTime, Utc};
use sqlx::error::BoxDynError;
use sqlx::{Arguments, Database};

use super::db::{Conn, SqlDb};
use super::dialect::Dialect;

/// A statement being bound: the SQL sent so far, the rest of the template, the values.
pub(crate) struct Stmt<'t, D: Dialect> {
    sql: String,
    rest: &'t str,
    args: <D::DB as Database>::Arguments,
    failed: Option<BoxDynError>,
}

impl<'t, D: Dialect> Stmt<'t, D> {
    /// A statement from `template`, where each `?` is a parameter, bound in order.
    pub(crate) fn new(template: &'t str) -> Self {
        Self {
            sql: String::with_capacity(template.len() + 16),
            rest: template,
            args: Default::default(),
            failed: None,
        }
    }

    /// Copies the template up to its next `?` into the SQL, skipping the `?`.
    fn advance(&mut self) {
        let at = self.rest.find('?').unwrap_or(self.rest.len());
        self.sql.push_str(&self.rest[..at]);
        self.rest = self.rest.get(at + 1..).unwrap_or("");
    }

    /// Replaces the next `?` of the template by the placeholder of the value just added.
    fn slot(mut self, added: Result<(), BoxDynError>) -> Self {
        if let Err(e) = added {
            self.failed.get_or_insert(e);
        }
        self.advance();
        // Writing into a String cannot fail.
        let _ = self.args.format_placeholder(&mut self.sql);
        self
    }

    /// The time a row is written: the server's clock where the dialect has
    /// [`Dialect::NOW`] (written in place of the `?`), else `t`, bound.
    pub(crate) fn now(mut self, t: DateTime<Utc>) -> Self {
        match D::NOW {
            Some(now) => {
                self.advance();
                self.sql.push_str(now);
                self
            }
            None => self.time(t),
        }
    }

    /// Binds text.
    pub(crate) fn text(mut self, v: &str) -> Self {
        let added = D::DB::add_text(&mut self.args, Some(v));
        self.slot(added)
    }

    /// Binds text or NULL.
    pub(crate) fn opt_text(mut self, v: Option<&str>) -> Self {
        let added = D::DB::add_text(&mut self.args, v);
        self.slot(added)
    }

    /// Binds a float or NULL (NULL for NaN and infinities where the dialect has none).
    pub(crate) fn float(mut self, v: Option<f64>) -> Self {
        let v = v.filter(|x| D::NON_FINITE_FLOATS || x.is_finite());
        let added = D::DB::add_float(&mut self.args, v);
        self.slot(added)
    }

    /// Binds a boolean.
    pub(crate) fn boolean(mut self, v: bool) -> Self {
        let added = D::DB::add_bool(&mut self.args, v);
        self.slot(added)
    }

    /// Binds an integer.
    pub(crate) fn int(mut self, v: i32) -> Self {
        let added = D::DB::add_int(&mut self.args, v);
        self.slot(added)
    }

    /// Binds a time in the dialect's time encoding.
    pub(crate) fn time(self, v: DateTime<Utc>) -> Self {
        self.opt_time(Some(v))
    }

    /// Binds a time or NULL.
    pub(crate) fn opt_time(mut self, v: Option<DateTime<Utc>>) -> Self {
        let added = D::add_time(&mut self.args, v);
        self.slot(added)
    }

    /// Binds JSON text (or NULL) in the dialect's JSON encoding.
    pub(crate) fn json(mut self, v: Option<String>) -> Self {
        let added = D::add_json(&mut self.args, v);
        self.slot(added)
    }

    /// The SQL and values to send; an encoding failure is an [`sqlx::Error::Encode`].
    fn finish(mut self) -> Result<(String, <D::DB as Database>::Arguments), sqlx::Error> {
        debug_assert!(
            !self.rest.contains('?'),
            "unbound parameter in {}",
            self.rest
        );
        self.sql.push_str(self.rest);
        match self.failed {
            Some(e) => Err(sqlx::Error::Encode(e)),
            None => Ok((self.sql, self.args)),
        }
    }

    /// Runs the statement on `conn`; the number of rows it changed.
    pub(crate) async fn execute(self, conn: &mut Conn<D::DB>) -> Result<u64, sqlx::Error> {
        let (sql, args) = self.finish()?;
        D::DB::run(conn, sql, args).await
    }

    /// Runs the query on `conn`; its rows.
    pub(crate) async fn fetch(
        self,
        conn: &mut Conn<D::DB>,
    ) -> Result<Vec<<D::DB as Database>::Row>, sqlx::Error> {
        let (sql, args) = self.finish()?;
        D::DB::rows(conn, sql, args).await
    }

    /// Runs the query on `conn`; its first row, if any.
    pub(crate) async fn fetch_first(
        self,
        conn: &mut Conn<D::DB>,
    ) -> Result<Option<<D::DB as Database>::Row>, sqlx::Error> {
        Ok(self.fetch(conn).await?.into_iter().next())
    }
}

#[cfg(all(test, feature = "postgres", feature = "mysql"))]
mod tests {
    use super::*;
    use crate::mysql::Mysql;
    use crate::postgres::Pg;

    #[test]
    fn parameters_become_the_drivers_placeholders_in_order() {
        let template = "SELECT x FROM t WHERE a = ? AND (? IS NULL OR b = ?) LIMIT 1";
        let (pg, _) = Stmt::<Pg>::new(template)
            .text("a")
            .opt_text(None)
            .opt_text(None)
            .finish()
            .unwrap();
        assert_eq!(
            pg,
            "SELECT x FROM t WHERE a = $1 AND ($2 IS NULL OR b = $3) LIMIT 1"
        );
        let (my, _) = Stmt::<Mysql>::new(template)
            .text("a")
            .opt_text(None)
            .opt_text(None)
            .finish()
            .unwrap();
        assert_eq!(my, template);
    }

    #[test]
    fn the_servers_clock_takes_the_place_of_a_parameter() {
        let t = chrono::Utc::now();
        let (my, args) = Stmt::<Mysql>::new("VALUES (?, ?, ?)")
            .text("m")
            .now(t)
            .text("j")
            .finish()
            .unwrap();
        assert_eq!(my, "VALUES (?, UTC_TIMESTAMP(6), ?)");
        assert_eq!(args.len(), 2);
    }

    #[test]
    fn json_that_is_not_json_is_an_encoding_error() {
        let failed = Stmt::<Pg>::new("UPDATE t SET j = ?")
            .json(Some("{".into()))
            .finish();
        assert!(matches!(failed, Err(sqlx::Error::Encode(_))));
    }
}
