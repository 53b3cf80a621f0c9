//! One metric's chart as inline SVG for the HTML page: the series, each detector's
//! band, every anomaly (alerted or suppressed), alert marks and missing intervals.

use std::collections::BTreeSet;
use std::fmt::Write;

use chrono::{DateTime, TimeZone, Utc};

use crate::analyze::{AlertOutcome, MetricView};
use crate::downsample::{reduce_band, reduce_line};
use crate::model::Period;

/// Size of a chart, in SVG user units, and how many columns the series is reduced to.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ChartSize {
    /// Width of the whole chart.
    pub width: f64,
    /// Height of the whole chart.
    pub height: f64,
    /// Display columns (the series keeps at most four points per column).
    pub columns: usize,
    /// Smaller output for large fleets: whole-unit coordinates, each column's lowest and
    /// highest point only, one band point per column.
    pub compact: bool,
}

impl ChartSize {
    /// The coarser charts of a large fleet (see [`ChartSize::compact`]).
    pub fn compact() -> Self {
        Self {
            columns: 160,
            compact: true,
            ..Self::default()
        }
    }
}

impl Default for ChartSize {
    fn default() -> Self {
        Self {
            width: 800.0,
            height: 240.0,
            columns: 800,
            compact: false,
        }
    }
}

const LEFT: f64 = 58.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;

/// Maps data to chart coordinates.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    size: ChartSize,
}

impl Frame {
    /// The frame of `view` over `period`: x spans the period, y the values and the
    /// bands (a band reaching far beyond the values is cut at one value span).
    pub fn new(view: &MetricView<'_>, period: &Period, size: ChartSize) -> Self {
        let (lo, hi) = value_range(view);
        let (y0, y1) = if lo < hi {
            let pad = (hi - lo) * 0.05;
            (lo - pad, hi + pad)
        } else {
            (lo - 1.0, hi + 1.0)
        };
        Self {
            x0: seconds(period.from),
            x1: seconds(period.to).max(seconds(period.from) + 1.0),
            y0,
            y1,
            size,
        }
    }

    /// The time span shown, in seconds since the epoch.
    pub fn x_range(&self) -> (f64, f64) {
        (self.x0, self.x1)
    }

    /// The value span shown.
    pub fn y_range(&self) -> (f64, f64) {
        (self.y0, self.y1)
    }

    /// Horizontal position of time `x` (seconds).
    pub fn px(&self, x: f64) -> f64 {
        let w = self.size.width - LEFT - RIGHT;
        LEFT + (x - self.x0) / (self.x1 - self.x0) * w
    }

    /// Vertical position of value `y`.
    pub fn py(&self, y: f64) -> f64 {
        let h = self.size.height - TOP - BOTTOM;
        let y = y.clamp(self.y0, self.y1);
        TOP + (self.y1 - y) / (self.y1 - self.y0) * h
    }
}

/// Seconds since the epoch, as f64 (chart x).
pub fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64
}

fn value_range(view: &MetricView<'_>) -> (f64, f64) {
    let values = view.data.points.iter().filter_map(|p| p.present_value());
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = (hi - lo).max(hi.abs().max(1.0) * 0.1);
    let (floor, ceil) = (lo - span, hi + span);
    for r in &view.data.detections {
        if let Some(l) = r.detection.lower_bound.filter(|v| v.is_finite()) {
            lo = lo.min(l.max(floor));
        }
        if let Some(u) = r.detection.upper_bound.filter(|v| v.is_finite()) {
            hi = hi.max(u.min(ceil));
        }
    }
    (lo, hi)
}

/// The line of the series, reduced to the chart's columns.
pub fn series_segments(view: &MetricView<'_>, frame: &Frame) -> Vec<Vec<(f64, f64)>> {
    let points: Vec<(f64, Option<f64>)> = view
        .data
        .points
        .iter()
        .map(|p| (seconds(p.timestamp), p.present_value()))
        .collect();
    reduce_line(
        &points,
        frame.x0,
        frame.x1,
        frame.size.columns,
        !frame.size.compact,
    )
}

/// Each detector's band (detectors in config order), reduced to the chart's columns.
pub fn band_segments(view: &MetricView<'_>, frame: &Frame) -> Vec<Vec<Vec<(f64, f64, f64)>>> {
    let gap = view.data.interval.num_seconds().max(1) as f64 * 1.5;
    view.data
        .detector_ids
        .iter()
        .map(|id| {
            let points: Vec<(f64, f64, f64)> = view
                .data
                .detections
                .iter()
                .filter(|r| &r.detector_id == id && r.detection.skipped.is_none())
                .filter_map(|r| {
                    let d = &r.detection;
                    Some((seconds(d.timestamp), d.lower_bound?, d.upper_bound?))
                })
                .collect();
            reduce_band(
                &points,
                gap,
                frame.x0,
                frame.x1,
                frame.size.columns,
                !frame.size.compact,
            )
        })
        .collect()
}

fn n(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// A short label for a value: at most 4 significant digits, with k/M/G for large ones.
pub fn value_label(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = if scaled.abs() >= 100.0 || scaled == scaled.trunc() {
        format!("{scaled:.0}")
    } else if scaled.abs() >= 10.0 {
        format!("{scaled:.1}")
    } else {
        format!("{scaled:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// Round tick values covering `[lo, hi]`, about `count` of them.
pub fn ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return vec![lo];
    }
    let raw = span / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil();
    (0..20)
        .map(|k| (first + f64::from(k)) * step)
        .take_while(|t| *t <= hi + step * 1e-9)
        .map(|t| if t.abs() < step * 1e-9 { 0.0 } else { t })
        .collect()
}

/// A time label fitting the period's length.
pub fn time_label(x: f64, span_seconds: f64) -> String {
    let t = Utc.timestamp_opt(x as i64, 0).single().unwrap_or_default();
    if span_seconds > 400.0 * 86_400.0 {
        t.format("%Y-%m").to_string()
    } else if span_seconds > 3.0 * 86_400.0 {
        t.format("%m-%d").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

/// The chart of `view` as an `<svg>` element (inline in HTML; self-contained).
pub fn chart_svg(view: &MetricView<'_>, period: &Period, size: ChartSize) -> String {
    let frame = Frame::new(view, period, size);
    let f = |v: f64| {
        if size.compact {
            format!("{}", v.round() as i64)
        } else {
            n(v)
        }
    };
    let (w, h) = (size.width, size.height);
    let (top, bottom) = (TOP, h - BOTTOM);
    let mut s = String::with_capacity(16 * 1024);
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img" data-anomalies="{}" aria-label="{} chart"><title>{}</title>"#,
        view.anomalies.len(),
        crate::escape::escape(&view.data.name),
        crate::escape::escape(&view.data.name),
    );
    let _ = write!(
        s,
        r#"<rect class="area" x="{LEFT}" y="{top}" width="{}" height="{}"/>"#,
        f(w - LEFT - RIGHT),
        f(bottom - top)
    );
    // grid and labels
    for v in ticks(frame.y0, frame.y1, 4) {
        let y = f(frame.py(v));
        let _ = write!(
            s,
            r#"<path class="grid" d="M{LEFT} {y}H{}"/><text class="yl" x="{}" y="{y}">{}</text>"#,
            f(w - RIGHT),
            LEFT - 4.0,
            value_label(v)
        );
    }
    let span = frame.x1 - frame.x0;
    for i in 0..=4 {
        let x = frame.x0 + span * f64::from(i) / 4.0;
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r#"<text class="xl" x="{}" y="{}" text-anchor="{anchor}">{}</text>"#,
            f(frame.px(x)),
            f(h - 6.0),
            time_label(x, span)
        );
    }
    // missing intervals: one mark per display column that has one
    let columns: BTreeSet<i64> = view
        .missing
        .iter()
        .map(|t| frame.px(seconds(*t)).round() as i64)
        .collect();
    if !columns.is_empty() {
        s.push_str(r#"<path class="missing" d=""#);
        for c in columns {
            let _ = write!(s, "M{c} {}v-6", f(bottom));
        }
        s.push_str(r#""/>"#);
    }
    // bands
    for (i, segments) in band_segments(view, &frame).iter().enumerate() {
        if segments.is_empty() {
            continue;
        }
        let _ = write!(s, r#"<path class="band b{}" d=""#, i % 4);
        for seg in segments {
            for (j, (x, _, hi)) in seg.iter().enumerate() {
                let _ = write!(
                    s,
                    "{}{} {}",
                    if j == 0 { "M" } else { "L" },
                    f(frame.px(*x)),
                    f(frame.py(*hi))
                );
            }
            for (x, lo, _) in seg.iter().rev() {
                let _ = write!(s, "L{} {}", f(frame.px(*x)), f(frame.py(*lo)));
            }
            s.push('Z');
        }
        s.push_str(r#""/>"#);
    }
    // the series
    s.push_str(r#"<path class="series" d=""#);
    for seg in series_segments(view, &frame) {
        for (j, (x, y)) in seg.iter().enumerate() {
            let _ = write!(
                s,
                "{}{} {}",
                if j == 0 { "M" } else { "L" },
                f(frame.px(*x)),
                f(frame.py(*y))
            );
        }
        if seg.len() == 1 {
            s.push_str("h0.5");
        }
    }
    s.push_str(r#""/>"#);
    // anomalies: every one, alerted and suppressed apart; alert marks on top
    for (class, sent) in [("suppressed", false), ("anomaly", true)] {
        let mut d = String::new();
        for a in &view.anomalies {
            if (a.outcome == AlertOutcome::Sent) != sent {
                continue;
            }
            let y = a.value.filter(|v| v.is_finite()).unwrap_or(frame.y0);
            let _ = write!(
                d,
                "M{} {}h0",
                f(frame.px(seconds(a.timestamp))),
                f(frame.py(y))
            );
        }
        if !d.is_empty() {
            let _ = write!(s, r#"<path class="{class}" d="{d}"/>"#);
        }
    }
    let sent_times = view
        .anomalies
        .iter()
        .filter(|a| a.outcome == AlertOutcome::Sent)
        .map(|a| a.timestamp)
        .chain(view.other_alerts.iter().copied());
    let mut marks = String::new();
    for t in sent_times {
        let _ = write!(
            marks,
            "M{} {}l-4 -7h8z",
            f(frame.px(seconds(t))),
            f(top + 7.0)
        );
    }
    if !marks.is_empty() {
        let _ = write!(s, r#"<path class="alert" d="{marks}"/>"#);
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside_the_range() {
        assert_eq!(ticks(0.0, 100.0, 4), [0.0, 50.0, 100.0]);
        let labels: Vec<String> = ticks(0.13, 0.61, 4).into_iter().map(value_label).collect();
        assert_eq!(labels, ["0.2", "0.4", "0.6"]);
        assert_eq!(ticks(5.0, 5.0, 4), [5.0]);
    }

    #[test]
    fn value_labels_are_short() {
        assert_eq!(value_label(1234.0), "1234");
        assert_eq!(value_label(12_345.0), "12.3k");
        assert_eq!(value_label(2_500_000.0), "2.5M");
        assert_eq!(value_label(0.126), "0.13");
        assert_eq!(value_label(-3.0), "-3");
    }
}
