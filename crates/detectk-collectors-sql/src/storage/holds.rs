//! Alert holds (`dtk_alert_holds`): the snoozes and acknowledgements of metrics.

use detectk_core::traits::{AlertHold, HoldKind, StorageResult};
use detectk_core::{BackendError, BackendErrorKind};

use super::db::SqlDb;
use super::{Dialect, SqlStorage, Stmt};

impl<D: Dialect> SqlStorage<D> {
    /// One upsert on (metric, kind).
    pub(super) async fn put_hold(&self, hold: &AlertHold) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO dtk_alert_holds (metric_name, hold_kind, created_at, until_at, reason) \
             VALUES (?, ?, ?, ?, ?) {}",
            D::upsert("metric_name, hold_kind", "created_at, until_at, reason")
        );
        Stmt::<D>::new(&sql)
            .text(&hold.metric)
            .text(hold.kind.as_str())
            .time(hold.created_at)
            .opt_time(hold.until)
            .opt_text(hold.reason.as_deref())
            .execute(&mut *self.handle.connect().await?)
            .await
            .map_err(self.err("setting an alert hold"))?;
        Ok(())
    }

    pub(super) async fn remove_hold(&self, metric: &str, kind: HoldKind) -> StorageResult<bool> {
        let removed =
            Stmt::<D>::new("DELETE FROM dtk_alert_holds WHERE metric_name = ? AND hold_kind = ?")
                .text(metric)
                .text(kind.as_str())
                .execute(&mut *self.handle.connect().await?)
                .await
                .map_err(self.err("removing an alert hold"))?;
        Ok(removed > 0)
    }

    /// Sorted here by kind, so the order is the same on every server.
    pub(super) async fn load_holds(&self, metric: &str) -> StorageResult<Vec<AlertHold>> {
        let what = "loading alert holds";
        let err = self.err(what);
        let rows = Stmt::<D>::new(
            "SELECT hold_kind, created_at, until_at, reason FROM dtk_alert_holds \
             WHERE metric_name = ?",
        )
        .text(metric)
        .fetch(&mut *self.handle.connect().await?)
        .await
        .map_err(&err)?;
        let mut holds = Vec::with_capacity(rows.len());
        for row in &rows {
            let kind_text = D::DB::text(row, "hold_kind")
                .map_err(&err)?
                .unwrap_or_default();
            let kind = HoldKind::parse(&kind_text).ok_or_else(|| {
                BackendError::new(
                    BackendErrorKind::Decode,
                    self.handle.server(),
                    format!("unknown alert hold kind {kind_text:?}"),
                )
            })?;
            let created_at = self.required_time(D::time(row, "created_at"), "created_at")?;
            let mut hold = AlertHold::new(metric, kind, created_at)
                .reason(D::DB::text(row, "reason").map_err(&err)?);
            hold.until = D::time(row, "until_at").map_err(&err)?;
            holds.push(hold);
        }
        holds.sort_by_key(|h| h.kind);
        Ok(holds)
    }
}
