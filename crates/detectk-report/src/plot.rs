//! One metric's chart as an image file (PNG or SVG), drawn with `plotters`: the series,
//! each detector's band, every anomaly (red: alert sent, orange: no alert), alert marks
//! and missing intervals. Text uses the embedded DejaVu Sans font through plotters'
//! pure-Rust `ab_glyph` path, so no system font is needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::analyze::{AlertOutcome, MetricView};
use crate::error::ReportError;
use crate::model::Period;
use crate::svg::{
    ChartSize, Frame, band_segments, seconds, series_segments, time_label, value_label,
};

/// DejaVu Sans 2.37 (licence: fonts/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

const FAMILY: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a constant, valid file: registration cannot fail at run time.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Image formats of [`render_chart`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageFormat {
    /// A PNG bitmap.
    Png,
    /// An SVG document.
    Svg,
}

impl ImageFormat {
    /// The format named by `path`'s extension (`.png` or `.svg`, any case).
    pub fn from_path(path: &Path) -> Result<Self, ReportError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(Self::Png),
            Some("svg") => Ok(Self::Svg),
            _ => Err(ReportError::Format {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Pixel size of a chart image.
pub const DEFAULT_SIZE: (u32, u32) = (1200, 420);

/// Draws `view` over `period` into `path` (format from its extension), `size` pixels.
pub fn render_chart(
    view: &MetricView<'_>,
    period: &Period,
    path: &Path,
    size: (u32, u32),
) -> Result<(), ReportError> {
    let format = ImageFormat::from_path(path)?;
    register_font();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(ReportError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("directory {} does not exist", dir.display()),
            ),
        });
    }
    let size = (size.0.clamp(200, 8000), size.1.clamp(120, 8000));
    let drawn = match format {
        ImageFormat::Png => draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            view,
            period,
            size,
        ),
        ImageFormat::Svg => draw(
            SVGBackend::new(path, size).into_drawing_area(),
            view,
            period,
            size,
        ),
    };
    drawn.map_err(|message| draw_error(view, path, message))
}

fn draw_error(view: &MetricView<'_>, path: &Path, message: String) -> ReportError {
    // plotters reports a failed file write as a drawing error; say which file.
    if message.to_ascii_lowercase().contains("os error") {
        return ReportError::Write {
            path: PathBuf::from(path),
            source: std::io::Error::other(message),
        };
    }
    ReportError::Draw {
        metric: view.data.name.clone(),
        message,
    }
}

const SERIES: RGBColor = RGBColor(39, 100, 197);
const ANOMALY: RGBColor = RGBColor(214, 39, 24);
const SUPPRESSED: RGBColor = RGBColor(242, 157, 56);
const MISSING: RGBColor = RGBColor(138, 147, 163);
const BANDS: [(u8, u8, u8); 4] = [
    (39, 100, 197),
    (46, 160, 67),
    (155, 89, 182),
    (230, 126, 34),
];

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    view: &MetricView<'_>,
    period: &Period,
    (width, height): (u32, u32),
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let frame = Frame::new(
        view,
        period,
        ChartSize {
            width: f64::from(width),
            height: f64::from(height),
            columns: width as usize,
            compact: false,
        },
    );
    let (x0, x1) = frame.x_range();
    let (y0, y1) = frame.y_range();
    let span = x1 - x0;
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{}   {} .. {} UTC",
                view.data.name,
                period.from.format("%Y-%m-%d %H:%M"),
                period.to.format("%Y-%m-%d %H:%M")
            ),
            (FAMILY, 16),
        )
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|x| time_label(*x, span))
        .y_label_formatter(&|y| value_label(*y))
        .light_line_style(RGBColor(238, 240, 244))
        .bold_line_style(RGBColor(222, 226, 232))
        .label_style((FAMILY, 12))
        .draw()
        .map_err(e)?;
    for (i, segments) in band_segments(view, &frame).into_iter().enumerate() {
        let (r, g, b) = BANDS[i % BANDS.len()];
        let fill = RGBAColor(r, g, b, 0.18).filled();
        let polygons = segments.into_iter().map(|seg| {
            let mut outline: Vec<(f64, f64)> = seg
                .iter()
                .map(|(x, _, hi)| (*x, hi.clamp(y0, y1)))
                .collect();
            outline.extend(seg.iter().rev().map(|(x, lo, _)| (*x, lo.clamp(y0, y1))));
            Polygon::new(outline, fill)
        });
        chart.draw_series(polygons).map_err(e)?;
    }
    for seg in series_segments(view, &frame) {
        let seg: Vec<(f64, f64)> = seg.into_iter().map(|(x, y)| (x, y.clamp(y0, y1))).collect();
        chart
            .draw_series(LineSeries::new(seg, SERIES.stroke_width(1)))
            .map_err(e)?;
    }
    let tick = (y1 - y0) * 0.02;
    chart
        .draw_series(view.missing.iter().map(|t| {
            let x = seconds(*t);
            PathElement::new(vec![(x, y0), (x, y0 + tick)], MISSING.stroke_width(1))
        }))
        .map_err(e)?;
    chart
        .draw_series(view.anomalies.iter().map(|a| {
            let y = a
                .value
                .filter(|v| v.is_finite())
                .unwrap_or(y0)
                .clamp(y0, y1);
            let color = match a.outcome {
                AlertOutcome::Sent => ANOMALY,
                AlertOutcome::Suppressed(_) => SUPPRESSED,
            };
            Circle::new((seconds(a.timestamp), y), 3, color.filled())
        }))
        .map_err(e)?;
    let sent = view
        .anomalies
        .iter()
        .filter(|a| a.outcome == AlertOutcome::Sent)
        .map(|a| a.timestamp)
        .chain(view.other_alerts.iter().copied());
    chart
        .draw_series(sent.map(|t| TriangleMarker::new((seconds(t), y1), 5, ANOMALY.filled())))
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}
