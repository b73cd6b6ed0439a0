//! Flex tensors worked on by host code (the CPU paths that replace a Burn op: `model::backbone::gelu`,
//! `host_conv`, `host_attention`, `host_norm`, `engine::host_adamw`): a generic backend's tensor checked to be
//! Flex's, its f32 values taken out (without a copy when nothing else holds the buffer) or read in place, values
//! put back as a Flex tensor of any rank, and the pointer parallel tasks write disjoint blocks through.

use std::any::Any;

use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn::tensor::{Shape, Tensor, TensorData, TensorPrimitive};

use burn_flex::FlexTensor;

use super::CpuBackend as Cpu;

/// Elements per parallel chunk of a host loop (large enough that scheduling costs nothing next to the work).
pub const CHUNK: usize = 1 << 15;

/// `t` as `U` when `T` is `U`, else `t` back.
pub fn try_cast<T: 'static, U: 'static>(t: T) -> Result<U, T> {
    match (Box::new(t) as Box<dyn Any>).downcast::<U>() {
        Ok(u) => Ok(*u),
        Err(back) => match back.downcast::<T>() {
            Ok(t) => Err(*t),
            Err(_) => unreachable!("a value downcasts to its own type"),
        },
    }
}

/// `t` as the caller's type, which the caller checked it is.
pub fn cast<T: 'static, U: 'static>(t: T) -> U {
    match (Box::new(t) as Box<dyn Any>).downcast::<U>() {
        Ok(u) => *u,
        Err(_) => unreachable!("cast to the type the tensor was downcast from"),
    }
}

/// An f32 Flex tensor's values and shape (no copy when the tensor is not shared).
pub fn host_values(t: FloatTensor<Cpu>) -> (Vec<f32>, Shape) {
    let t = Tensor::<Cpu, 1>::from_primitive(TensorPrimitive::Float(t));
    let data = t.into_data();
    let shape = Shape::from(data.shape.clone());
    match data.into_vec::<f32>() {
        Ok(v) => (v, shape),
        Err(e) => unreachable!("an f32 tensor reads back as f32: {e:?}"),
    }
}

/// Host values as a Flex tensor of `shape` (any rank).
pub fn flex_tensor(values: Vec<f32>, shape: Shape) -> FloatTensor<Cpu> {
    // Through the backend op, which takes any rank (a `Tensor<_, 1>` would insist on rank 1).
    Cpu::float_from_data(TensorData::new(values, shape), &Default::default())
}

/// `t` laid out row-major (a copy only when it is not), for [`values`].
pub fn row_major(t: FloatTensor<Cpu>) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The f32 values of a row-major tensor (from [`row_major`]), read in place.
pub fn values(t: &FlexTensor) -> &[f32] {
    match t.as_slice::<f32>() {
        Some(v) => v,
        None => unreachable!("values() of a tensor that row_major() laid out as f32"),
    }
}

/// A pointer parallel tasks write disjoint elements of one buffer through.
#[derive(Clone, Copy)]
pub struct SendPtr(pub *mut f32);
// SAFETY: every user writes a disjoint set of elements from each task (said at each use), and the buffer outlives
// the tasks.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// # Safety
    /// `offset` is within the buffer.
    pub unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: the caller keeps `offset` in bounds.
        unsafe { self.0.add(offset) }
    }
}

/// `Σ f(a[i], b[i], c[i])` over slices of one length, in eight interleaved lanes so that the loop vectorises (one
/// running sum would fix the order of the additions). Inlined into each caller's `target_feature` functions.
#[inline(always)]
pub fn lane_sum(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) -> f32 {
    const LANES: usize = 8;
    debug_assert!(a.len() == b.len() && b.len() == c.len(), "lane_sum over slices of different lengths");
    let mut acc = [0.0f32; LANES];
    let (ca, cb, cc) = (a.chunks_exact(LANES), b.chunks_exact(LANES), c.chunks_exact(LANES));
    let rest: f32 = (ca.remainder().iter().zip(cb.remainder()).zip(cc.remainder()))
        .map(|((&x, &y), &z)| f(x, y, z))
        .sum();
    for ((x, y), z) in ca.zip(cb).zip(cc) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l], z[l]);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `fn $name(args)` running `$body(args)` compiled for AVX-512 or for AVX2 + FMA when the CPU has them (checked at
/// run time), else as compiled for the baseline: the host kernels' loops vectorise for the widest the machine
/// offers while the binary still runs on older CPUs. `$body` should be `#[inline(always)]`.
macro_rules! simd_kernel {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:path) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports the features the function was compiled for (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use simd_kernel;
