//! The report page: one self-contained HTML file (inline CSS, inline SVG charts and a
//! few lines of script that check the charts drew; nothing is fetched). A fleet summary
//! table first (problems first), then one section per metric. Readable on a phone: the
//! layout is one column and wide tables and charts scroll sideways.

use std::fmt::Write;

use chrono::{DateTime, TimeDelta, Utc};

use crate::analyze::{AlertOutcome, MetricView, Status, analyze};
use crate::model::{MetricEntry, Period};
use crate::svg::{ChartSize, chart_svg};

pub use crate::escape::escape;

/// Rows of an event table shown per metric; the chart still draws every anomaly.
pub const MAX_EVENT_ROWS: usize = 300;

/// Missing ranges listed per metric.
pub const MAX_MISSING_RANGES: usize = 100;

/// Fleets larger than this get coarser charts (fewer display columns) to keep the page small.
pub const LARGE_FLEET: usize = 100;

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// `3d 4h`, `2h 5m`, `40m`, `12s`.
pub fn duration(d: TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        format!("{s}s")
    }
}

fn value(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let text = format!("{v:.4}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        _ => "missing".into(),
    }
}

/// An HTML id for a metric section.
pub fn anchor(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("m-{safe}")
}

const STYLE: &str = r#"
:root{--fg:#1d2430;--muted:#5b6575;--line:#d9dee7;--bg:#fff;--area:#fafbfd}
*{box-sizing:border-box}
body{margin:0;padding:12px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);max-width:1100px;margin:auto}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:0 0 .3em;word-break:break-all}
p{margin:.3em 0}.muted{color:var(--muted)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;font-size:.9em;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
td.why{white-space:normal;min-width:16em}
th{background:#f1f3f7;position:sticky;top:0}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.metric{border-top:2px solid var(--line);padding:14px 0 8px}
.st{display:inline-block;padding:0 .5em;border-radius:.7em;font-size:.8em;font-weight:600;vertical-align:middle}
.st-ok{background:#e3f4e8;color:#1b6b36}.st-anomalous{background:#fde7e4;color:#a32114}
.st-stale,.st-no_data{background:#fff1d6;color:#8a5a00}.st-failed{background:#a32114;color:#fff}
.chart-box{overflow-x:auto;margin:.4em 0}
svg.chart{width:100%;min-width:560px;height:auto;aspect-ratio:10/3;display:block}
svg .area{fill:var(--area);stroke:var(--line)}
svg .grid{stroke:#e6e9ef;stroke-width:1}
svg text{font-size:11px;fill:var(--muted)}svg .yl{text-anchor:end;dominant-baseline:middle}
svg .series{fill:none;stroke:#2764c5;stroke-width:1.3;stroke-linejoin:round}
svg .band{stroke:none}svg .b0{fill:rgba(39,100,197,.16)}svg .b1{fill:rgba(46,160,67,.16)}
svg .b2{fill:rgba(155,89,182,.16)}svg .b3{fill:rgba(230,126,34,.16)}
svg .anomaly{stroke:#d62718;stroke-width:6;stroke-linecap:round}
svg .suppressed{stroke:#f29d38;stroke-width:6;stroke-linecap:round}
svg .alert{fill:#d62718}svg .missing{stroke:#8a93a3;stroke-width:1.5}
.legend span{margin-right:1em;white-space:nowrap}.legend i{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.3em;vertical-align:-1px}
details{margin:.3em 0}summary{cursor:pointer;color:var(--muted)}
@media (max-width:600px){body{padding:8px;font-size:14px}th,td{padding:3px 6px}}
"#;

/// Checks, after load, that every chart drew a visible line (the body's `data-charts`
/// attribute: `drawn/total`) and that the page fits the window's width (`data-fits`:
/// `yes` or `no`), for tests and for users.
const SCRIPT: &str = r#"(function(){var c=document.querySelectorAll('svg.chart'),ok=0;for(var i=0;i<c.length;i++){var p=c[i].querySelector('path.series');if(p&&p.getAttribute('d')&&p.getBBox().width>0){ok++;c[i].setAttribute('data-drawn','1');}}document.body.setAttribute('data-charts',ok+'/'+c.length);var d=document.documentElement;document.body.setAttribute('data-fits',d.scrollWidth<=d.clientWidth?'yes':'no');})();"#;

/// Renders the whole report page for `entries` over `period`.
pub fn render_page(entries: &[MetricEntry], period: &Period) -> String {
    let size = if entries.len() > LARGE_FLEET {
        ChartSize::compact()
    } else {
        ChartSize::default()
    };
    let mut rows: Vec<(Status, &MetricEntry, Option<MetricView<'_>>)> = entries
        .iter()
        .map(|e| match e {
            MetricEntry::Loaded(data) => {
                let view = analyze(data, period);
                (view.status, e, Some(view))
            }
            MetricEntry::Failed { .. } => (Status::Failed, e, None),
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name().cmp(b.1.name())));

    let mut page = String::with_capacity(64 * 1024 + entries.len() * 12 * 1024);
    let _ = write!(
        page,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>DetectK report</title><style>{STYLE}</style></head><body>"#
    );
    let _ = write!(
        page,
        r#"<header><h1>DetectK report</h1><p class="muted">{} .. {} UTC &middot; {} metric(s) &middot; made {} UTC</p></header>"#,
        time(period.from),
        time(period.to),
        entries.len(),
        time(period.now)
    );
    summary(&mut page, &rows);
    for (_, entry, view) in &rows {
        match (entry, view) {
            (_, Some(view)) => section(&mut page, view, period, size),
            (MetricEntry::Failed { name, error }, None) => {
                let _ = write!(
                    page,
                    r#"<section class="metric" id="{}"><h2>{} <span class="st st-failed">failed</span></h2><p>{}</p><p class="muted">If nothing was stored yet, run <code>dtk backfill</code> or <code>dtk run</code> first.</p></section>"#,
                    anchor(name),
                    escape(name),
                    escape(error)
                );
            }
            _ => {}
        }
    }
    let _ = writeln!(page, "<script>{SCRIPT}</script></body></html>");
    page
}

fn status_badge(status: Status) -> String {
    format!(
        r#"<span class="st st-{}">{}</span>"#,
        status.as_str().replace(' ', "_"),
        status.as_str()
    )
}

fn summary(page: &mut String, rows: &[(Status, &MetricEntry, Option<MetricView<'_>>)]) {
    let mut counts = [0usize; 5];
    for (status, _, _) in rows {
        counts[*status as usize] += 1;
    }
    let totals: Vec<String> = [
        Status::Failed,
        Status::NoData,
        Status::Stale,
        Status::Anomalous,
        Status::Ok,
    ]
    .iter()
    .filter(|s| counts[**s as usize] > 0)
    .map(|s| format!("{} {}", counts[*s as usize], status_badge(*s)))
    .collect();
    let _ = write!(
        page,
        r#"<section id="summary"><h2>Fleet</h2><p>{}</p><div class="scroll"><table><thead><tr><th>metric</th><th>status</th><th>last point (UTC)</th><th>lag</th><th>anomalies</th><th>alerts sent</th><th>suppressed</th><th>missing</th></tr></thead><tbody>"#,
        totals.join(" &middot; ")
    );
    for (status, entry, view) in rows {
        let name = entry.name();
        let _ = write!(
            page,
            r##"<tr><td><a href="#{}">{}</a></td><td>{}</td>"##,
            anchor(name),
            escape(name),
            status_badge(*status)
        );
        match view {
            Some(v) => {
                let _ = write!(
                    page,
                    r#"<td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                    v.data.last_point.map(time).unwrap_or_else(|| "none".into()),
                    v.lag.map(duration).unwrap_or_default(),
                    v.anomalies.len(),
                    v.alerts_sent(),
                    v.suppressed(),
                    v.missing.len()
                );
            }
            None => page.push_str(r#"<td colspan="6">cannot read its data</td></tr>"#),
        }
    }
    page.push_str("</tbody></table></div></section>");
}

fn section(page: &mut String, view: &MetricView<'_>, period: &Period, size: ChartSize) {
    let d = view.data;
    let _ = write!(
        page,
        r#"<section class="metric" id="{}"><h2>{} {}</h2>"#,
        anchor(&d.name),
        escape(&d.name),
        status_badge(view.status)
    );
    if let Some(desc) = &d.description {
        let _ = write!(page, r#"<p class="muted">{}</p>"#, escape(desc));
    }
    let _ = write!(
        page,
        r#"<p>{} point(s), {} missing &middot; {} anomal{} &middot; {} alert(s) sent &middot; {} suppressed &middot; last point {}{}</p>"#,
        d.points.len(),
        view.missing.len(),
        view.anomalies.len(),
        if view.anomalies.len() == 1 {
            "y"
        } else {
            "ies"
        },
        view.alerts_sent(),
        view.suppressed(),
        d.last_point
            .map(|t| format!("{} UTC", time(t)))
            .unwrap_or_else(|| "none".into()),
        view.lag
            .map(|l| format!(" (lag {})", duration(l)))
            .unwrap_or_default()
    );
    if d.points.iter().all(|p| p.present_value().is_none()) {
        page.push_str(r#"<p class="muted">No stored points in this period.</p></section>"#);
        return;
    }
    let _ = write!(
        page,
        r#"<div class="chart-box">{}</div>"#,
        chart_svg(view, period, size)
    );
    page.push_str(
        r#"<p class="legend muted"><span><i style="background:#2764c5"></i>value</span>"#,
    );
    for (i, id) in d.detector_ids.iter().enumerate() {
        let color = ["39,100,197", "46,160,67", "155,89,182", "230,126,34"][i % 4];
        let _ = write!(
            page,
            r#"<span><i style="background:rgba({color},.35)"></i>band {}</span>"#,
            escape(id)
        );
    }
    page.push_str(r#"<span><i style="background:#d62718"></i>anomaly, alert sent (&#9660;)</span><span><i style="background:#f29d38"></i>anomaly, no alert</span><span><i style="background:#8a93a3;border-radius:0;width:2px"></i>missing</span></p>"#);
    anomaly_table(page, view);
    missing_list(page, view);
    page.push_str("</section>");
}

fn anomaly_table(page: &mut String, view: &MetricView<'_>) {
    if view.anomalies.is_empty() && view.other_alerts.is_empty() {
        return;
    }
    let _ = write!(
        page,
        r#"<details><summary>Anomalies and alerts ({} anomalies, {} sent, {} suppressed)</summary><div class="scroll"><table><thead><tr><th>time (UTC)</th><th>value</th><th>detectors</th><th>direction</th><th>alert</th></tr></thead><tbody>"#,
        view.anomalies.len(),
        view.alerts_sent(),
        view.suppressed()
    );
    for a in view.anomalies.iter().rev().take(MAX_EVENT_ROWS) {
        let alert = match &a.outcome {
            AlertOutcome::Sent => "sent".to_string(),
            AlertOutcome::Suppressed(why) => format!("not sent: {}", escape(why)),
        };
        let _ = write!(
            page,
            r#"<tr><td>{}</td><td class="n">{}</td><td>{}</td><td>{}</td><td class="why">{alert}</td></tr>"#,
            time(a.timestamp),
            value(a.value),
            escape(&a.detectors.join(", ")),
            a.direction.map(|d| d.as_str()).unwrap_or("")
        );
    }
    for t in view.other_alerts.iter().rev().take(MAX_EVENT_ROWS) {
        let _ = write!(
            page,
            r#"<tr><td>{}</td><td></td><td></td><td></td><td class="why">sent (a point no detector flags: recovery)</td></tr>"#,
            time(*t)
        );
    }
    page.push_str("</tbody></table></div>");
    if view.anomalies.len() > MAX_EVENT_ROWS {
        let _ = write!(
            page,
            r#"<p class="muted">The newest {MAX_EVENT_ROWS} are listed; the chart shows all {}.</p>"#,
            view.anomalies.len()
        );
    }
    page.push_str("</details>");
}

fn missing_list(page: &mut String, view: &MetricView<'_>) {
    if view.missing.is_empty() {
        return;
    }
    let step = view.data.interval;
    let mut ranges: Vec<(DateTime<Utc>, DateTime<Utc>, usize)> = Vec::new();
    for t in &view.missing {
        match ranges.last_mut() {
            Some((_, end, count)) if *end + step == *t => {
                *end = *t;
                *count += 1;
            }
            _ => ranges.push((*t, *t, 1)),
        }
    }
    let _ = write!(
        page,
        r#"<details><summary>Missing intervals ({} in {} range(s))</summary><ul>"#,
        view.missing.len(),
        ranges.len()
    );
    for (from, to, count) in ranges.iter().take(MAX_MISSING_RANGES) {
        if count == &1 {
            let _ = write!(page, "<li>{}</li>", time(*from));
        } else {
            let _ = write!(page, "<li>{} .. {} ({count})</li>", time(*from), time(*to));
        }
    }
    page.push_str("</ul>");
    if ranges.len() > MAX_MISSING_RANGES {
        let _ = write!(
            page,
            r#"<p class="muted">and {} more range(s).</p>"#,
            ranges.len() - MAX_MISSING_RANGES
        );
    }
    page.push_str("</details>");
}
