//! k-means for HuBERT-style pre-training targets: k-means++ seeding, then Lloyd iterations, on `[n, dim]` f32
//! rows; seeded, so a run and its resume agree. Written here rather than taken from a crate: sixty lines,
//! no ndarray stack to build, and the few operations it needs are plain loops.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Cluster centres `[k][dim]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Centroids {
    pub k: usize,
    pub dim: usize,
    pub values: Vec<f32>,
}

fn dist2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

impl Centroids {
    /// Fits `k` centres to `rows` (`[n, dim]`): k-means++ seeding, then `iterations` Lloyd steps.
    pub fn fit(rows: &[f32], dim: usize, k: usize, iterations: usize, seed: u64) -> Self {
        let n = rows.len() / dim;
        assert!(n >= k && k > 0, "k-means needs at least k = {k} rows, got {n}");
        let row = |i: usize| &rows[i * dim..(i + 1) * dim];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut values = Vec::with_capacity(k * dim);
        values.extend_from_slice(row(rng.random_range(0..n)));
        let mut nearest: Vec<f32> = (0..n).map(|i| dist2(row(i), &values[0..dim])).collect();
        for c in 1..k {
            let total: f64 = nearest.iter().map(|&d| d as f64).sum();
            let mut target = rng.random::<f64>() * total;
            let mut pick = n - 1;
            for (i, &d) in nearest.iter().enumerate() {
                target -= d as f64;
                if target <= 0.0 {
                    pick = i;
                    break;
                }
            }
            values.extend_from_slice(row(pick));
            let centre = values[c * dim..(c + 1) * dim].to_vec();
            for (i, d) in nearest.iter_mut().enumerate() {
                *d = d.min(dist2(row(i), &centre));
            }
        }
        let mut centroids = Self { k, dim, values };
        for _ in 0..iterations {
            let mut sums = vec![0f64; k * dim];
            let mut counts = vec![0usize; k];
            for i in 0..n {
                let c = centroids.nearest(row(i));
                counts[c] += 1;
                for (s, x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(row(i)) {
                    *s += *x as f64;
                }
            }
            for c in 0..k {
                // An empty cluster keeps its centre.
                if counts[c] > 0 {
                    for j in 0..dim {
                        centroids.values[c * dim + j] = (sums[c * dim + j] / counts[c] as f64) as f32;
                    }
                }
            }
        }
        centroids
    }

    /// The index of the centre nearest to `x`.
    pub fn nearest(&self, x: &[f32]) -> usize {
        let mut best = (0, f32::INFINITY);
        for c in 0..self.k {
            let d = dist2(x, &self.values[c * self.dim..(c + 1) * self.dim]);
            if d < best.1 {
                best = (c, d);
            }
        }
        best.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_separated_clusters_and_labels_by_the_nearest_centre() {
        // Three blobs in 2-d.
        let centres = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut rows = Vec::new();
        for i in 0..300 {
            let c = centres[i % 3];
            rows.push(c[0] + rng.random_range(-1.0f32..1.0));
            rows.push(c[1] + rng.random_range(-1.0f32..1.0));
        }
        let km = Centroids::fit(&rows, 2, 3, 10, 7);
        let labels: Vec<usize> = (0..300).map(|i| km.nearest(&rows[2 * i..2 * i + 2])).collect();
        for i in 0..300 {
            assert_eq!(labels[i], labels[i % 3], "row {i} is with its blob");
        }
        assert_ne!(labels[0], labels[1]);
        assert_ne!(labels[1], labels[2]);
        assert_eq!(Centroids::fit(&rows, 2, 3, 10, 7), km, "seeded: the same centres again");
    }
}
