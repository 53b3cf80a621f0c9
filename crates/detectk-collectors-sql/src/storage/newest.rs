//! The fleet's keyed reads of newest times: per metric its newest stored point, per
//! (metric, detector) its newest detection, [`KEYS_PER_QUERY`] keys per statement, a
//! primary-key seek per key (a `GROUP BY` would read every stored row of the metrics).
//!
//! The statements are built here once; the storage's bulk lane runs them when it has
//! one (all of a read's statements in one hop, rows without a handover each), sqlx
//! otherwise.

use chrono::{DateTime, Utc};
use detectk_core::traits::StorageResult;

use super::db::SqlDb;
use super::series::{KEYS_PER_QUERY, keys_table};
use super::{Dialect, SqlStorage, Stmt};

/// One statement of a keyed read: its SQL and its text parameters. Its rows are the
/// key columns, then the newest time (`last_time`, NULL when the key has no row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyedRead {
    /// The statement.
    pub(crate) sql: String,
    /// Its parameters, the keys' texts in order.
    pub(crate) params: Vec<String>,
}

/// A key's texts and its newest time.
pub(crate) type Newest = (Vec<String>, DateTime<Utc>);

/// The key columns of the newest-point read.
pub(crate) const POINT_KEYS: &[&str] = &["metric_name"];
/// The key columns of the newest-detection read.
pub(crate) const DETECTION_KEYS: &[&str] = &["metric_name", "detector_id"];

/// The statements reading the newest stored point of each of `metrics`.
pub(crate) fn newest_points(metrics: &[String]) -> Vec<KeyedRead> {
    metrics
        .chunks(KEYS_PER_QUERY)
        .map(|chunk| KeyedRead {
            sql: format!(
                "SELECT k.m AS metric_name, (SELECT MAX(x.collected_at) FROM dtk_datapoints x \
                 WHERE x.metric_name = k.m) AS last_time FROM ({}) k",
                keys_table(&["m"], chunk.len())
            ),
            params: chunk.to_vec(),
        })
        .collect()
}

/// The statements reading the newest detection of each (metric, detector ID) pair.
pub(crate) fn newest_detections(pairs: &[(String, String)]) -> Vec<KeyedRead> {
    pairs
        .chunks(KEYS_PER_QUERY)
        .map(|chunk| KeyedRead {
            sql: format!(
                "SELECT k.m AS metric_name, k.d AS detector_id, \
                 (SELECT MAX(x.detected_at) FROM dtk_detections x \
                  WHERE x.metric_name = k.m AND x.detector_id = k.d) AS last_time FROM ({}) k",
                keys_table(&["m", "d"], chunk.len())
            ),
            params: chunk
                .iter()
                .flat_map(|(metric, id)| [metric.clone(), id.clone()])
                .collect(),
        })
        .collect()
}

impl<D: Dialect> SqlStorage<D> {
    /// Runs the statements of a keyed read whose key columns are `keys`: every key with
    /// a newest time (keys without one are left out). Failing is failing `what`.
    pub(super) async fn newest_times(
        &self,
        what: &'static str,
        reads: Vec<KeyedRead>,
        keys: &'static [&'static str],
    ) -> StorageResult<Vec<Newest>> {
        let err = self.err(what);
        if reads.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(lane) = &self.lane
            && let Some(rows) = lane.newest_times(&reads, keys.len()).await
        {
            return rows.map_err(&err);
        }
        let mut newest = Vec::new();
        let mut conn = self.handle.connect().await?;
        for read in &reads {
            let mut stmt = Stmt::<D>::new(&read.sql);
            for param in &read.params {
                stmt = stmt.text(param);
            }
            'rows: for row in stmt.fetch(&mut *conn).await.map_err(&err)? {
                let mut texts = Vec::with_capacity(keys.len());
                for column in keys {
                    match D::DB::text(&row, column).map_err(&err)? {
                        Some(text) => texts.push(text),
                        None => continue 'rows,
                    }
                }
                if let Some(time) = D::time(&row, "last_time").map_err(&err)? {
                    newest.push((texts, time));
                }
            }
        }
        Ok(newest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_take_at_most_keys_per_query_keys_each_in_order() {
        let metrics: Vec<String> = (0..KEYS_PER_QUERY * 2 + 3)
            .map(|i| format!("m{i}"))
            .collect();
        let reads = newest_points(&metrics);
        let sizes: Vec<usize> = reads.iter().map(|r| r.params.len()).collect();
        assert_eq!(sizes, [KEYS_PER_QUERY, KEYS_PER_QUERY, 3]);
        let params: Vec<String> = reads.into_iter().flat_map(|r| r.params).collect();
        assert_eq!(params, metrics);

        let pairs: Vec<(String, String)> = (0..KEYS_PER_QUERY + 1)
            .map(|i| (format!("m{i}"), format!("d{i}")))
            .collect();
        let reads = newest_detections(&pairs);
        assert_eq!(reads.len(), 2);
        assert_eq!(
            reads[1].params,
            [format!("m{KEYS_PER_QUERY}"), format!("d{KEYS_PER_QUERY}")]
        );
        assert_eq!(reads[0].sql.matches('?').count(), reads[0].params.len());
    }
}
