//! `dtk_datapoints`: bulk upserts and range reads of a metric's points.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use detectk_core::traits::{LoadDatapoints, SeriesStore, StorageResult};
use detectk_core::{DataPoint, async_trait};

use super::ClickHouseStorage;
use super::rows::{DATAPOINT_COLUMNS, DatapointRow, DatapointWrite, seconds};
use super::versions::{from_datetime_secs, reserve, second_range};

const TABLE: &str = "dtk_datapoints";

#[async_trait]
impl SeriesStore for ClickHouseStorage {
    /// Inserts `points` as one RowBinary batch; later points of a batch win over earlier ones.
    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        // Refuse the whole batch before sending any of it.
        if let Some(err) = points.iter().find_map(|p| seconds(p.timestamp).err()) {
            return Err(self.value_error(metric, err));
        }
        let first = reserve(points.len());
        let loaded_at = Self::now_secs();
        let client = self.client();
        let what = format!("insert into {}.{TABLE}", self.database);
        self.server
            .run(&what, self.timeout, async move {
                let mut insert = client.insert::<DatapointWrite<'_>>(TABLE).await?;
                for (point, version) in points.iter().zip(first..) {
                    let row = DatapointWrite::new(metric, point, loaded_at, version)
                        .map_err(clickhouse::error::Error::Custom)?;
                    insert.write(&row).await?;
                }
                insert.end().await
            })
            .await
    }

    /// Points of `metric` in `[from, to)`, oldest first.
    async fn load_datapoints(&self, op: &LoadDatapoints) -> StorageResult<Vec<DataPoint>> {
        let metric = op.metric.as_str();
        let Some((lo, hi)) = second_range(op.from, op.to) else {
            return Ok(Vec::new());
        };
        let upper = if hi.is_some() {
            " AND collected_at < toDateTime(?)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {DATAPOINT_COLUMNS} FROM {TABLE} FINAL \
             WHERE metric_name = ? AND collected_at >= toDateTime(?){upper} \
             ORDER BY collected_at"
        );
        let mut query = self.client().query(&sql).bind(metric).bind(lo);
        if let Some(hi) = hi {
            query = query.bind(hi);
        }
        let rows: Vec<DatapointRow> = self
            .fetch_all(&format!("load datapoints of `{metric}`"), query)
            .await?;
        rows.into_iter()
            .map(|r| r.into_point().map_err(|e| self.decode_error(TABLE, e)))
            .collect()
    }

    /// Timestamp of the newest point of `metric`.
    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>> {
        // All versions of a row share its key, so `max` needs no FINAL.
        let query = self
            .client()
            .query("SELECT count(), toUInt32(max(collected_at)) FROM dtk_datapoints WHERE metric_name = ?")
            .bind(metric);
        let rows: Vec<(u64, u32)> = self
            .fetch_all(&format!("last datapoint time of `{metric}`"), query)
            .await?;
        Ok(rows
            .first()
            .filter(|(n, _)| *n > 0)
            .map(|(_, t)| from_datetime_secs(*t)))
    }

    /// Newest point time of each of `metrics`, in one grouped query.
    async fn last_datapoint_times(
        &self,
        metrics: &[String],
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        if metrics.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; metrics.len()].join(", ");
        let sql = format!(
            "SELECT metric_name, toUInt32(max(collected_at)) FROM {TABLE} \
             WHERE metric_name IN ({marks}) GROUP BY metric_name"
        );
        let mut query = self.client().query(&sql);
        for metric in metrics {
            query = query.bind(metric.as_str());
        }
        let rows: Vec<(String, u32)> = self
            .fetch_all(
                &format!("last datapoint times of {} metrics", metrics.len()),
                query,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(metric, t)| (metric, from_datetime_secs(t)))
            .collect())
    }
}
