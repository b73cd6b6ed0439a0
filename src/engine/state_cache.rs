//! An in-memory cache of a frozen backbone's hidden states per training crop (`optim.backbone_cache_mib`), so
//! that when nothing inside the backbone trains (method `frozen`, or inter-layer adapters only) the epochs
//! after the first cost only the trainable part: inter adapters, aggregation, head and classifier.
//!
//! It is exact: an entry is keyed by the crop's samples themselves (a 128-bit hash of their bits), so a hit
//! returns what the backbone computes on exactly that input, and crops the budget has no room for are simply
//! computed again. What the option changes is the data, not the arithmetic: the loader then takes the same
//! crop of each utterance in every epoch (`LoaderConfig::fixed_crops`; a new crop each epoch would never hit),
//! and augmentation must be off. Caching whole utterances and cutting crops out of their states would not be
//! exact (the group norm of Base models' first conv normalises over the crop, and attention sees the crop
//! only), so it is not offered.
//!
//! ```text
//! crops [B, samples] ─ hash per row ─┬─ hits: states from memory
//!                                    └─ misses: backbone (no autodiff) on those rows → kept while the budget allows
//!                                    → L + 1 tensors [B, T, H] → inter adapters, aggregation, head
//! ```

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::model::backbone::SslBackbone;

/// Hidden states of the crops of a run, up to a memory budget.
#[derive(Debug)]
pub struct StateCache {
    /// Per crop: the `L + 1` states `[T, H]` one after another.
    entries: HashMap<u128, Vec<f32>>,
    /// (states, frames, hidden) of the entries of each crop length (in samples).
    shapes: HashMap<usize, (usize, usize, usize)>,
    bytes: usize,
    budget: usize,
    /// Rows served from memory / computed, since the last [`StateCache::take_counts`].
    hits: u64,
    misses: u64,
}

impl StateCache {
    pub fn new(budget_mib: usize) -> Self {
        Self {
            entries: HashMap::new(),
            shapes: HashMap::new(),
            bytes: 0,
            budget: budget_mib.saturating_mul(1 << 20),
            hits: 0,
            misses: 0,
        }
    }

    /// Crops held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Memory held by the states, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// (hits, misses) since the last call, which resets them.
    pub fn take_counts(&mut self) -> (u64, u64) {
        (std::mem::take(&mut self.hits), std::mem::take(&mut self.misses))
    }

    /// The backbone's `L + 1` hidden states `[batch, T, H]` of `samples` (`[batch, crop]` row-major): rows
    /// seen before from memory, the others from one forward of `backbone` over just those rows.
    pub fn states<B: Backend>(
        &mut self,
        backbone: &SslBackbone<B>,
        samples: &[f32],
        batch: usize,
        device: &B::Device,
    ) -> Vec<Tensor<B, 3>> {
        assert!(
            batch > 0 && samples.len().is_multiple_of(batch) && !samples.is_empty(),
            "a batch of crops: {} samples in {batch} rows",
            samples.len()
        );
        let crop = samples.len() / batch;
        let keys: Vec<u128> = samples.chunks_exact(crop).map(key).collect();
        let missing: Vec<usize> = (0..batch).filter(|&r| !self.entries.contains_key(&keys[r])).collect();
        self.hits += (batch - missing.len()) as u64;
        self.misses += missing.len() as u64;

        // Rows computed now but not kept (over budget), by row.
        let mut fresh: HashMap<usize, Vec<f32>> = HashMap::new();
        if !missing.is_empty() {
            let mut wave = Vec::with_capacity(missing.len() * crop);
            for &r in &missing {
                wave.extend_from_slice(&samples[r * crop..(r + 1) * crop]);
            }
            let wave = Tensor::<B, 2>::from_data(TensorData::new(wave, [missing.len(), crop]), device);
            let states = backbone.forward(wave);
            let [_, frames, hidden] = states[0].dims();
            let shape = (states.len(), frames, hidden);
            self.shapes.insert(crop, shape);
            let per_state = frames * hidden;
            let host: Vec<Vec<f32>> = states.into_iter().map(|s| to_host(s.into_data())).collect();
            for (i, &r) in missing.iter().enumerate() {
                let mut entry = Vec::with_capacity(shape.0 * per_state);
                for s in &host {
                    entry.extend_from_slice(&s[i * per_state..(i + 1) * per_state]);
                }
                let size = entry.len() * size_of::<f32>();
                if self.bytes + size <= self.budget && !self.entries.contains_key(&keys[r]) {
                    self.bytes += size;
                    self.entries.insert(keys[r], entry);
                } else {
                    fresh.insert(r, entry);
                }
            }
        }

        let Some(&(states, frames, hidden)) = self.shapes.get(&crop) else {
            unreachable!("a batch either hits entries of its crop length (shape known) or computes rows (shape set)")
        };
        let per_state = frames * hidden;
        (0..states)
            .map(|s| {
                let mut out = Vec::with_capacity(batch * per_state);
                for (r, k) in keys.iter().enumerate() {
                    let entry = fresh.get(&r).or_else(|| self.entries.get(k));
                    let Some(entry) = entry else {
                        unreachable!("row {r} was either cached or computed above")
                    };
                    out.extend_from_slice(&entry[s * per_state..(s + 1) * per_state]);
                }
                Tensor::from_data(TensorData::new(out, [batch, frames, hidden]), device)
            })
            .collect()
    }
}

/// A 128-bit key of a crop: two independent 64-bit hashes of its sample bits.
fn key(crop: &[f32]) -> u128 {
    let hash = |salt: u64| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        crop.len().hash(&mut h);
        for pair in crop.chunks(2) {
            let lo = pair[0].to_bits() as u64;
            let hi = pair.get(1).map_or(0, |v| v.to_bits() as u64);
            h.write_u64(lo | hi << 32);
        }
        h.finish()
    };
    (hash(0x5EED_0001) as u128) << 64 | hash(0x5EED_0002) as u128
}

fn to_host(data: TensorData) -> Vec<f32> {
    match data.convert::<f32>().into_vec::<f32>() {
        Ok(v) => v,
        Err(e) => unreachable!("converted to f32 just before: {e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::CpuBackend as B;
    use crate::model::build::preset_config;
    use burn::tensor::Distribution;

    #[test]
    fn cached_states_are_the_backbones_and_misses_are_computed_once() {
        let device = Default::default();
        let backbone: SslBackbone<B> = preset_config("wavlm-tiny").unwrap().init(&device);
        let crop = 4000;
        let wave = Tensor::<B, 2>::random([3, crop], Distribution::Uniform(-0.5, 0.5), &device);
        let samples = to_host(wave.clone().into_data());
        let direct = backbone.forward(wave);

        let mut cache = StateCache::new(64);
        let first = cache.states(&backbone, &samples, 3, &device);
        assert_eq!(cache.take_counts(), (0, 3));
        assert_eq!(cache.len(), 3);
        // A batch with two known crops (in another order) and one new.
        let mut mixed = samples[crop..].to_vec(); // rows 1, 2
        mixed.extend(samples[..crop].iter().map(|v| v * 0.5));
        let second = cache.states(&backbone, &mixed, 3, &device);
        assert_eq!(cache.take_counts(), (2, 1));
        for (s, (a, d)) in first.iter().zip(&direct).enumerate() {
            let diff = (a.clone() - d.clone()).abs().max().into_scalar();
            assert!(diff < 1e-5, "state {s}: {diff}");
            // Rows 1 and 2 of the first batch are rows 0 and 1 of the second, bit for bit.
            let again = second[s].clone().narrow(0, 0, 2);
            assert_eq!(again.into_data(), a.clone().narrow(0, 1, 2).into_data(), "state {s}");
        }
    }

    #[test]
    fn over_budget_rows_are_computed_but_not_kept() {
        let device = Default::default();
        let backbone: SslBackbone<B> = preset_config("wavlm-tiny").unwrap().init(&device);
        let wave = Tensor::<B, 2>::random([2, 4000], Distribution::Uniform(-0.5, 0.5), &device);
        let samples = to_host(wave.clone().into_data());
        let mut cache = StateCache::new(0);
        let states = cache.states(&backbone, &samples, 2, &device);
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
        let direct = backbone.forward(wave);
        for (a, d) in states.into_iter().zip(direct) {
            assert!((a - d).abs().max().into_scalar() < 1e-5);
        }
        assert_eq!(cache.take_counts(), (0, 2));
    }
}
