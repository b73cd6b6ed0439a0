//! Reducing a long series to what a plot can show: per pixel column only the lowest and highest point, in
//! their original order, so a 100k-step loss curve draws as fast as a 2k-point one and still shows every
//! spike. Points outside the visible x range are dropped except one on each side (the line runs to the edge).

/// `points` sorted by x. Returns at most `2 * columns + 2` points covering `[x_lo, x_hi]`; a series that
/// already fits is returned as it is.
pub fn min_max_per_column(points: &[[f64; 2]], x_lo: f64, x_hi: f64, columns: usize) -> Vec<[f64; 2]> {
    let columns = columns.max(1);
    // One point before and one after the visible range, so the line reaches the plot's edges.
    let start = points.partition_point(|p| p[0] < x_lo).saturating_sub(1);
    let end = (points.partition_point(|p| p[0] <= x_hi) + 1).min(points.len());
    if start >= end {
        return Vec::new();
    }
    let visible = &points[start..end];
    if visible.len() <= 2 * columns + 2 || x_hi <= x_lo {
        return visible.to_vec();
    }
    let width = (x_hi - x_lo) / columns as f64;
    let column_of = |x: f64| (((x - x_lo) / width).floor().max(-1.0) as i64).min(columns as i64);
    let mut out = Vec::with_capacity(2 * columns + 4);
    let mut i = 0;
    while i < visible.len() {
        let col = column_of(visible[i][0]);
        let (mut lo, mut hi) = (i, i);
        let mut j = i + 1;
        while j < visible.len() && column_of(visible[j][0]) == col {
            if visible[j][1] < visible[lo][1] {
                lo = j;
            }
            if visible[j][1] > visible[hi][1] {
                hi = j;
            }
            j += 1;
        }
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push(visible[a]);
        if b != a {
            out.push(visible[b]);
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_extremes_and_bounds_the_count() {
        let mut pts: Vec<[f64; 2]> = (0..100_000).map(|i| [i as f64, (i as f64 * 0.01).sin()]).collect();
        pts[54_321][1] = 9.0; // a spike
        pts[77_777][1] = -7.0; // a dip
        let out = min_max_per_column(&pts, 0.0, 99_999.0, 800);
        assert!(out.len() <= 2 * 800 + 4, "{} points", out.len());
        assert!(out.contains(&[54_321.0, 9.0]), "the spike survives");
        assert!(out.contains(&[77_777.0, -7.0]), "the dip survives");
        assert!(out.windows(2).all(|w| w[0][0] < w[1][0]), "order kept");
        assert_eq!(out.first(), Some(&pts[0]));
        assert_eq!(out.last(), Some(&pts[99_999]));
    }

    #[test]
    fn a_zoomed_view_keeps_one_point_beyond_each_edge_and_short_series_as_they_are() {
        let pts: Vec<[f64; 2]> = (0..10).map(|i| [i as f64, i as f64]).collect();
        assert_eq!(min_max_per_column(&pts, 3.5, 5.5, 100), pts[3..7].to_vec());
        assert_eq!(min_max_per_column(&pts, -10.0, 100.0, 100), pts);
        assert!(min_max_per_column(&[], 0.0, 1.0, 10).is_empty());
    }
}
