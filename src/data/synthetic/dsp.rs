//! Small filters for the synthetic voices: Klatt formant resonators and RBJ-cookbook biquads
//! (peaking EQ, low-pass, high-pass) used as "session channels".

use std::f32::consts::PI;

use super::super::SAMPLE_RATE;

const FS: f32 = SAMPLE_RATE as f32;

/// Klatt's two-pole resonator `y = A x + B y1 + C y2`, unity gain at DC.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resonator {
    a: f32,
    b: f32,
    c: f32,
    y1: f32,
    y2: f32,
}

impl Resonator {
    /// Sets centre frequency and bandwidth (Hz), keeping the filter state.
    pub fn set(&mut self, freq: f32, bw: f32) {
        let freq = freq.clamp(50.0, FS * 0.49);
        let r = (-PI * bw / FS).exp();
        self.c = -r * r;
        self.b = 2.0 * r * (2.0 * PI * freq / FS).cos();
        self.a = 1.0 - self.b - self.c;
    }

    #[inline]
    pub fn tick(&mut self, x: f32) -> f32 {
        let y = self.a * x + self.b * self.y1 + self.c * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// A direct-form-I biquad.
#[derive(Debug, Clone, Copy)]
pub struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl Biquad {
    fn new(b0: f32, b1: f32, b2: f32, a0: f32, a1: f32, a2: f32) -> Self {
        Self {
            b: [b0 / a0, b1 / a0, b2 / a0],
            a: [a1 / a0, a2 / a0],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    /// Peaking EQ at `freq` Hz with `gain_db` and quality `q`.
    pub fn peaking(freq: f32, gain_db: f32, q: f32) -> Self {
        let a = 10f32.powf(gain_db / 40.0);
        let w = 2.0 * PI * freq.min(FS * 0.45) / FS;
        let alpha = w.sin() / (2.0 * q);
        Self::new(
            1.0 + alpha * a,
            -2.0 * w.cos(),
            1.0 - alpha * a,
            1.0 + alpha / a,
            -2.0 * w.cos(),
            1.0 - alpha / a,
        )
    }

    /// Second-order Butterworth-like low-pass at `freq` Hz.
    pub fn lowpass(freq: f32) -> Self {
        let w = 2.0 * PI * freq.min(FS * 0.45) / FS;
        let alpha = w.sin() / (2.0 * std::f32::consts::FRAC_1_SQRT_2);
        let c = w.cos();
        Self::new(
            (1.0 - c) / 2.0,
            1.0 - c,
            (1.0 - c) / 2.0,
            1.0 + alpha,
            -2.0 * c,
            1.0 - alpha,
        )
    }

    /// Second-order high-pass at `freq` Hz.
    pub fn highpass(freq: f32) -> Self {
        let w = 2.0 * PI * freq / FS;
        let alpha = w.sin() / (2.0 * std::f32::consts::FRAC_1_SQRT_2);
        let c = w.cos();
        Self::new(
            (1.0 + c) / 2.0,
            -(1.0 + c),
            (1.0 + c) / 2.0,
            1.0 + alpha,
            -2.0 * c,
            1.0 - alpha,
        )
    }

    #[inline]
    pub fn tick(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }

    /// Filters `signal` in place.
    pub fn run(&mut self, signal: &mut [f32]) {
        signal.iter_mut().for_each(|s| *s = self.tick(*s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gain_at(mut f: impl FnMut(f32) -> f32, freq: f32) -> f32 {
        let n = 16000;
        let mut peak = 0.0f32;
        for i in 0..n {
            let y = f((2.0 * PI * freq * i as f32 / FS).sin());
            if i > n / 2 {
                peak = peak.max(y.abs());
            }
        }
        peak
    }

    #[test]
    fn filters_pass_and_stop_where_they_should() {
        let mut lp = Biquad::lowpass(1000.0);
        assert!(gain_at(|x| lp.tick(x), 200.0) > 0.9);
        let mut lp = Biquad::lowpass(1000.0);
        assert!(gain_at(|x| lp.tick(x), 6000.0) < 0.05);
        let mut pk = Biquad::peaking(1000.0, 6.0, 1.0);
        assert!((gain_at(|x| pk.tick(x), 1000.0) - 2.0).abs() < 0.05);
        let mut r = Resonator::default();
        r.set(700.0, 80.0);
        assert!(gain_at(|x| r.tick(x), 700.0) > 3.0 * gain_at(|x| r.tick(x), 2500.0));
    }
}
