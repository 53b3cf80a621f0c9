//! Retention: deletes a metric's old datapoints and detections with `ALTER TABLE ... DELETE`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use detectk_core::traits::StorageResult;

use super::ClickHouseStorage;
use super::versions::second_range;

/// Tables with per-metric time series, and their time column.
const TABLES: &[(&str, &str)] = &[
    ("dtk_datapoints", "collected_at"),
    ("dtk_detections", "detected_at"),
];

impl ClickHouseStorage {
    /// Deletes rows of `metric` older than `before`; returns how many (distinct keys) went.
    ///
    /// `ALTER TABLE ... DELETE` is an asynchronous mutation on every ClickHouse version;
    /// this waits until the server reports it done, so later reads no longer see the rows.
    pub(super) async fn delete_older(
        &self,
        metric: &str,
        before: DateTime<Utc>,
    ) -> StorageResult<u64> {
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        let Some((_, cutoff)) = second_range(epoch, before) else {
            return Ok(0);
        };
        let mut removed = 0;
        for (table, column) in TABLES {
            let bound = match cutoff {
                Some(c) => format!("{column} < toDateTime({c})"),
                None => "1".to_string(),
            };
            let count_sql =
                format!("SELECT count() FROM {table} FINAL WHERE metric_name = ? AND {bound}");
            let counts: Vec<u64> = self
                .fetch_all(
                    &format!("count old rows of `{metric}` in {table}"),
                    self.client().query(&count_sql).bind(metric),
                )
                .await?;
            let n = counts.first().copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let delete_sql =
                format!("ALTER TABLE {table} DELETE WHERE metric_name = ? AND {bound}");
            self.execute(
                &format!("delete old rows of `{metric}` from {table}"),
                self.client().query(&delete_sql).bind(metric),
            )
            .await?;
            self.wait_for_mutations(table).await?;
            removed += n;
        }
        Ok(removed)
    }

    /// Polls `system.mutations` until no mutation of `table` is pending.
    async fn wait_for_mutations(&self, table: &str) -> StorageResult<()> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(20);
        loop {
            let pending: Vec<u64> = self
                .fetch_all(
                    &format!("wait for deletion in {table}"),
                    self.client()
                        .query(
                            "SELECT count() FROM system.mutations \
                             WHERE database = ? AND table = ? AND is_done = 0",
                        )
                        .bind(self.database.as_str())
                        .bind(table),
                )
                .await?;
            if pending.first().copied().unwrap_or(0) == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(crate::error::timeout(
                    self.server.name(),
                    &format!("wait for deletion in {}.{table}", self.database),
                    self.timeout,
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}
