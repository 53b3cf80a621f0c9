//! Markdown tables of measured fleets, as `docs/benchmarks-fleet.md` shows them.

use crate::Manifest;
use crate::bench::{FleetResult, storage_label};
use crate::floor::Floor;
use crate::measure::Usage;

/// Header of [`case_rows`].
pub const CASE_HEADER: &str = "| metrics | storage | case | wall s | CPU s (user+sys) | CPU ms/metric | peak RSS MiB | notes |\n|---:|---|---|---:|---:|---:|---:|---|";

/// Header of [`curve_row`].
pub const CURVE_HEADER: &str = "| metrics | storage | tick wall s | tick CPU s | tick CPU ms/metric | idle tick CPU ms/metric | tick peak RSS MiB | load wall s | load points/s | load peak RSS MiB |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|";

/// Header of [`floor_row`].
pub const FLOOR_HEADER: &str = "| metrics | storage | rows copied | wall s | engine CPU s | wall µs/row |\n|---:|---|---:|---:|---:|---:|";

/// The markdown row of a fleet's storage floor (`fleet-bench floor`).
pub fn floor_row(manifest: &Manifest, floor: &Floor) -> String {
    let cpu = floor
        .engine_cpu_s
        .map_or_else(|| "n/a".to_string(), |s| format!("{s:.2}"));
    format!(
        "| {} | {} | {} | {:.2} | {cpu} | {:.2} |",
        thousands(i64::from(manifest.metrics)),
        storage_label(&manifest.storage),
        thousands(floor.rows),
        floor.wall_s,
        floor.wall_us_per_row()
    )
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The run with the median CPU time (the lower middle one of an even count).
pub fn median_by_cpu(runs: &[Usage]) -> Option<Usage> {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| a.cpu_s().total_cmp(&b.cpu_s()));
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

/// The fastest run (wall).
fn best_wall(runs: &[Usage]) -> Option<f64> {
    runs.iter().map(|u| u.wall_s).min_by(f64::total_cmp)
}

fn per_metric_ms(cpu_s: f64, metrics: u32) -> f64 {
    cpu_s * 1000.0 / f64::from(metrics)
}

/// One markdown row per case (history load, real tick, idle tick) of a fleet.
pub fn case_rows(result: &FleetResult) -> Vec<String> {
    let metrics = result.manifest.metrics;
    let storage = storage_label(&result.manifest.storage);
    let mut rows = Vec::new();
    let row = |case: &str, u: &Usage, wall: String, notes: String| {
        format!(
            "| {} | {storage} | {case} | {wall} | {:.2} | {:.2} | {:.0} | {notes} |",
            thousands(i64::from(metrics)),
            u.cpu_s(),
            per_metric_ms(u.cpu_s(), metrics),
            u.rss_mib()
        )
    };
    if let Some((load, points)) = &result.load {
        rows.push(row(
            "history load (`dtk backfill`)",
            load,
            format!("{:.2}", load.wall_s),
            format!(
                "{} points, {} points/s",
                thousands(*points),
                thousands((*points as f64 / load.wall_s) as i64)
            ),
        ));
    }
    let n = result.real.len();
    if let (Some(real), Some(best)) = (median_by_cpu(&result.real), best_wall(&result.real)) {
        rows.push(row(
            "cron tick, 1 new point (`dtk run`)",
            &real,
            format!("{:.2} (best {best:.2})", real.wall_s),
            format!("median of {n}"),
        ));
        if let (Some(idle), Some(best)) = (median_by_cpu(&result.idle), best_wall(&result.idle)) {
            rows.push(row(
                "the same tick again (nothing new)",
                &idle,
                format!("{:.2} (best {best:.2})", idle.wall_s),
                format!(
                    "median of {n}; {:.0} % of a real tick's CPU",
                    idle.cpu_s() / real.cpu_s() * 100.0
                ),
            ));
        }
    }
    rows
}

/// One row of the per-metric cost curve.
pub fn curve_row(result: &FleetResult) -> String {
    let metrics = result.manifest.metrics;
    let dash = || "-".to_string();
    let (tick_wall, tick_cpu, tick_ms, tick_rss) = match median_by_cpu(&result.real) {
        Some(u) => (
            format!("{:.2}", u.wall_s),
            format!("{:.2}", u.cpu_s()),
            format!("{:.2}", per_metric_ms(u.cpu_s(), metrics)),
            format!("{:.0}", u.rss_mib()),
        ),
        None => (dash(), dash(), dash(), dash()),
    };
    let idle_ms = median_by_cpu(&result.idle)
        .map(|u| format!("{:.2}", per_metric_ms(u.cpu_s(), metrics)))
        .unwrap_or_else(dash);
    let (load_wall, load_rate, load_rss) = match &result.load {
        Some((u, points)) => (
            format!("{:.2}", u.wall_s),
            thousands((*points as f64 / u.wall_s) as i64),
            format!("{:.0}", u.rss_mib()),
        ),
        None => (dash(), dash(), dash()),
    };
    format!(
        "| {} | {} | {tick_wall} | {tick_cpu} | {tick_ms} | {idle_ms} | {tick_rss} | {load_wall} | {load_rate} | {load_rss} |",
        thousands(i64::from(metrics)),
        storage_label(&result.manifest.storage)
    )
}

/// The machine: cores and load average now.
pub fn machine_line() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    format!("{cores} cores, load average {load}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(cpu: f64, wall: f64) -> Usage {
        Usage {
            wall_s: wall,
            user_s: cpu,
            sys_s: 0.0,
            max_rss_kib: 1024,
            exit_code: 0,
        }
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(4_464_000), "4,464,000");
        assert_eq!(thousands(-12_345), "-12,345");
    }

    #[test]
    fn median_takes_the_middle_cpu() {
        let runs = [usage(3.0, 1.0), usage(1.0, 9.0), usage(2.0, 5.0)];
        assert_eq!(median_by_cpu(&runs), Some(usage(2.0, 5.0)));
        let even = [
            usage(4.0, 1.0),
            usage(1.0, 1.0),
            usage(3.0, 1.0),
            usage(2.0, 1.0),
        ];
        assert_eq!(median_by_cpu(&even).map(|u| u.cpu_s()), Some(2.0));
        assert_eq!(median_by_cpu(&[]), None);
    }
}
