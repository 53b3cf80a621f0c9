//! `dtk_datapoints`: bulk upserts and range reads of a metric's points.

use chrono::{DateTime, Utc};
use detectk_core::DataPoint;
use detectk_core::traits::StorageResult;

use super::ClickHouseStorage;
use super::rows::{DATAPOINT_COLUMNS, DatapointRow, DatapointWrite, seconds};
use super::versions::{from_datetime_secs, reserve, second_range};

const TABLE: &str = "dtk_datapoints";

impl ClickHouseStorage {
    /// Inserts `points` as one RowBinary batch; later points of a batch win over earlier ones.
    pub(super) async fn write_datapoints(
        &self,
        metric: &str,
        points: &[DataPoint],
    ) -> StorageResult<()> {
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
    pub(super) async fn read_datapoints(
        &self,
        metric: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StorageResult<Vec<DataPoint>> {
        let Some((lo, hi)) = second_range(from, to) else {
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
    pub(super) async fn newest_datapoint(
        &self,
        metric: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
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
}
