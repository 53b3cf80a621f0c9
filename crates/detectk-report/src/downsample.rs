//! Reducing long series for display: per pixel column keep the first, lowest,
//! highest and last point (M4), so the drawn line looks as the full one would. Bands
//! keep each column's envelope. Anomalies are never reduced: charts draw them from the
//! full list.

/// Column of `x` among `columns` equal slices of `[x0, x1)`.
fn column(x: f64, x0: f64, x1: f64, columns: usize) -> usize {
    let span = (x1 - x0).max(f64::MIN_POSITIVE);
    let c = ((x - x0) / span * columns as f64).floor();
    if c.is_nan() || c < 0.0 {
        0
    } else {
        (c as usize).min(columns.saturating_sub(1))
    }
}

/// Reduces a line of `(x, y)` points sorted by `x` (`None`: missing, which breaks the
/// line) to at most four points per column (`m4`: first, lowest, highest, last), or two
/// (lowest and highest). Returns the unbroken segments.
pub fn reduce_line(
    points: &[(f64, Option<f64>)],
    x0: f64,
    x1: f64,
    columns: usize,
    m4: bool,
) -> Vec<Vec<(f64, f64)>> {
    let columns = columns.max(1);
    let mut segments = Vec::new();
    let mut segment: Vec<(f64, f64)> = Vec::new();
    // first, min, max, last of the current column (indices into `points`)
    let mut bucket: Option<(usize, [usize; 4])> = None;
    let flush = |bucket: &mut Option<(usize, [usize; 4])>, segment: &mut Vec<(f64, f64)>| {
        if let Some((_, mut idx)) = bucket.take() {
            if !m4 {
                idx[0] = idx[1];
                idx[3] = idx[2];
            }
            idx.sort_unstable();
            let mut last = usize::MAX;
            for i in idx {
                if i != last
                    && let (x, Some(y)) = points[i]
                {
                    segment.push((x, y));
                }
                last = i;
            }
        }
    };
    for (i, &(x, y)) in points.iter().enumerate() {
        let Some(y) = y.filter(|v| v.is_finite()) else {
            flush(&mut bucket, &mut segment);
            if !segment.is_empty() {
                segments.push(std::mem::take(&mut segment));
            }
            continue;
        };
        let c = column(x, x0, x1, columns);
        match &mut bucket {
            Some((col, idx)) if *col == c => {
                let value = |j: usize| points[j].1.unwrap_or(y);
                if y < value(idx[1]) {
                    idx[1] = i;
                }
                if y > value(idx[2]) {
                    idx[2] = i;
                }
                idx[3] = i;
            }
            _ => {
                flush(&mut bucket, &mut segment);
                bucket = Some((c, [i; 4]));
            }
        }
    }
    flush(&mut bucket, &mut segment);
    if !segment.is_empty() {
        segments.push(segment);
    }
    segments
}

/// Reduces a band of `(x, lower, upper)` sorted by `x` to each column's envelope (its
/// lowest lower and highest upper bound, at the column's first and last `x`, or only
/// at the middle of the two when `both_ends` is false). A jump in `x` larger than `gap`
/// (points without bounds) breaks the band.
pub fn reduce_band(
    points: &[(f64, f64, f64)],
    gap: f64,
    x0: f64,
    x1: f64,
    columns: usize,
    both_ends: bool,
) -> Vec<Vec<(f64, f64, f64)>> {
    let columns = columns.max(1);
    let mut segments = Vec::new();
    let mut segment: Vec<(f64, f64, f64)> = Vec::new();
    // column, first x, last x, lowest lower, highest upper
    let mut bucket: Option<(usize, f64, f64, f64, f64)> = None;
    let flush = |bucket: &mut Option<(usize, f64, f64, f64, f64)>,
                 segment: &mut Vec<(f64, f64, f64)>| {
        if let Some((_, first, last, lo, hi)) = bucket.take() {
            if !both_ends {
                segment.push(((first + last) / 2.0, lo, hi));
            } else {
                segment.push((first, lo, hi));
                if last > first {
                    segment.push((last, lo, hi));
                }
            }
        }
    };
    let mut previous_x: Option<f64> = None;
    for &(x, lo, hi) in points {
        if !(lo.is_finite() && hi.is_finite()) {
            continue;
        }
        if previous_x.is_some_and(|p| x - p > gap) {
            flush(&mut bucket, &mut segment);
            if !segment.is_empty() {
                segments.push(std::mem::take(&mut segment));
            }
        }
        previous_x = Some(x);
        let c = column(x, x0, x1, columns);
        match &mut bucket {
            Some((col, _, last, l, h)) if *col == c => {
                *last = x;
                *l = l.min(lo);
                *h = h.max(hi);
            }
            _ => {
                flush(&mut bucket, &mut segment);
                bucket = Some((c, x, x, lo, hi));
            }
        }
    }
    flush(&mut bucket, &mut segment);
    if !segment.is_empty() {
        segments.push(segment);
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_keeps_every_columns_extremes_and_at_most_four_points() {
        // 10,000 points, one spike and one dip, into 100 columns.
        let points: Vec<(f64, Option<f64>)> = (0..10_000)
            .map(|i| {
                let y = match i {
                    4_321 => 1_000.0,
                    7_777 => -500.0,
                    _ => (i % 7) as f64,
                };
                (i as f64, Some(y))
            })
            .collect();
        let segments = reduce_line(&points, 0.0, 10_000.0, 100, true);
        assert_eq!(segments.len(), 1);
        let line = &segments[0];
        assert!(line.len() <= 400, "{} points", line.len());
        assert!(line.contains(&(4_321.0, 1_000.0)));
        assert!(line.contains(&(7_777.0, -500.0)));
        assert!(line.windows(2).all(|w| w[0].0 < w[1].0), "sorted by x");
        let coarse = &reduce_line(&points, 0.0, 10_000.0, 100, false)[0];
        assert!(coarse.len() <= 200);
        assert!(coarse.contains(&(4_321.0, 1_000.0)) && coarse.contains(&(7_777.0, -500.0)));
    }

    #[test]
    fn missing_values_break_the_line_and_the_band() {
        let points = [(0.0, Some(1.0)), (1.0, None), (2.0, Some(3.0))];
        assert_eq!(
            reduce_line(&points, 0.0, 3.0, 1000, true),
            [vec![(0.0, 1.0)], vec![(2.0, 3.0)]]
        );
        let band = [(0.0, 1.0, 2.0), (1.0, 1.0, 2.0), (5.0, 0.0, 9.0)];
        let segments = reduce_band(&band, 1.5, 0.0, 6.0, 1000, true);
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[1], [(5.0, 0.0, 9.0)]);
    }

    #[test]
    fn a_band_column_is_its_envelope() {
        let band = [(0.0, 1.0, 5.0), (1.0, -2.0, 3.0), (2.0, 0.0, 9.0)];
        let segments = reduce_band(&band, 1.5, 0.0, 3.0, 1, true);
        assert_eq!(segments, [vec![(0.0, -2.0, 9.0), (2.0, -2.0, 9.0)]]);
    }
}
