//! The sample SQLite database of the quickstart: 60 days of realistic 10-minute
//! website metrics with a few real incidents in them.

use std::path::Path;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// Days of data in the sample.
pub const SAMPLE_DAYS: i64 = 60;

/// What was generated.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSummary {
    /// First row's time.
    pub start: DateTime<Utc>,
    /// End of the data (exclusive).
    pub end: DateTime<Utc>,
    /// Rows written.
    pub rows: usize,
    /// Incidents injected, for the README.
    pub incidents: Vec<String>,
}

/// Deterministic pseudo-random numbers (SplitMix64), so the sample is the same everywhere.
struct Noise(u64);

impl Noise {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal sample (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(1e-12);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// One row of `site_metrics`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Row {
    ts: DateTime<Utc>,
    sessions: i64,
    errors: i64,
    latency_ms: f64,
}

fn generate(end: DateTime<Utc>) -> (Vec<Row>, Vec<String>) {
    let step = TimeDelta::minutes(10);
    let start = end - TimeDelta::days(SAMPLE_DAYS);
    let mut noise = Noise(42);
    let mut rows = Vec::new();
    let mut t = start;
    // Incidents, as offsets from the start in 10-minute steps.
    let spike = (20 * 144 + 13 * 6, 6); // day 20, 13:00, one hour of doubled traffic
    let error_burst = (35 * 144 + 9 * 6, 4); // day 35, 09:00, 40 minutes of errors
    let slow = (48 * 144 + 16 * 6, 12); // day 48, 16:00, two hours of slow responses
    let gap = (53 * 144 + 3 * 6, 3); // day 53, 03:00, 30 minutes without rows
    let outage_len = 3; // the last 30 minutes: an outage
    let total = SAMPLE_DAYS * 144;
    let inside = |i: i64, (from, len): (i64, i64)| i >= from && i < from + len;
    let mut i = 0i64;
    while t < end {
        let hour = f64::from(t.hour()) + f64::from(t.minute()) / 60.0;
        let daily = 1.0 + 0.55 * ((hour - 9.0) / 24.0 * 2.0 * std::f64::consts::PI).sin();
        let weekly = if t.weekday().number_from_monday() >= 6 {
            0.8
        } else {
            1.0
        };
        let mut sessions = 1200.0 * daily * weekly + 35.0 * noise.normal();
        let mut errors = (sessions * 0.004 + 1.5 * noise.normal()).max(0.0);
        let mut latency = 110.0 + 25.0 * daily + 4.0 * noise.normal();
        if inside(i, spike) {
            sessions *= 2.2;
        }
        if inside(i, error_burst) {
            errors += 60.0 + 5.0 * noise.normal().abs();
        }
        if inside(i, slow) {
            latency += 150.0;
        }
        let outage = i >= total - outage_len;
        if outage {
            sessions *= 0.12;
            errors += 80.0;
            latency *= 3.0;
        }
        if !inside(i, gap) {
            rows.push(Row {
                ts: t,
                sessions: sessions.round() as i64,
                errors: errors.round() as i64,
                latency_ms: (latency * 10.0).round() / 10.0,
            });
        }
        t += step;
        i += 1;
    }
    let at = |(from, _): (i64, i64)| {
        (start + step * from as i32)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    let incidents = vec![
        format!("{}: traffic spike (sessions x2.2 for 1 hour)", at(spike)),
        format!("{}: error burst (40 minutes)", at(error_burst)),
        format!("{}: slow responses (+150 ms for 2 hours)", at(slow)),
        format!("{}: 30 minutes without data", at(gap)),
        format!(
            "{}: outage in the last 30 minutes (sessions -88%, errors up, latency x3)",
            at((total - outage_len, outage_len))
        ),
    ];
    (rows, incidents)
}

/// Writes (replacing) the sample database at `path`, with data ending at `end`.
pub async fn write_sample_db(path: &Path, end: DateTime<Utc>) -> Result<SampleSummary, String> {
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot replace {file}: {e}")),
        }
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let (rows, incidents) = generate(end);
    let result: Result<(), sqlx::Error> = async {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "CREATE TABLE site_metrics (ts TEXT PRIMARY KEY, sessions INTEGER NOT NULL, errors INTEGER NOT NULL, latency_ms REAL NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        for row in &rows {
            sqlx::query("INSERT INTO site_metrics (ts, sessions, errors, latency_ms) VALUES (?, ?, ?, ?)")
                .bind(row.ts.format("%Y-%m-%d %H:%M:%S").to_string())
                .bind(row.sessions)
                .bind(row.errors)
                .bind(row.latency_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
    .await;
    pool.close().await;
    result.map_err(|e| format!("cannot write sample data to {}: {e}", path.display()))?;
    Ok(SampleSummary {
        start: end - TimeDelta::days(SAMPLE_DAYS),
        end,
        rows: rows.len(),
        incidents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_deterministic_and_has_the_incidents() {
        let end = DateTime::parse_from_rfc3339("2024-03-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (a, incidents) = generate(end);
        let (b, _) = generate(end);
        assert_eq!(a, b);
        assert_eq!(a.len() as i64, SAMPLE_DAYS * 144 - 3);
        assert_eq!(incidents.len(), 5);
        let last = a.last().unwrap();
        let typical = a[a.len() - 144 - 1].sessions;
        assert!(
            last.sessions * 4 < typical,
            "outage at the end: {} vs {typical}",
            last.sessions
        );
        assert!(a.windows(2).all(|w| w[0].ts < w[1].ts));
    }
}
