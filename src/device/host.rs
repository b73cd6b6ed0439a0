//! Flex tensors worked on by host code (the CPU paths that replace a Burn op: `model::backbone::gelu`,
//! `host_conv`, `engine::host_adamw`): a generic backend's tensor checked to be Flex's, its f32 values taken out
//! (without a copy when nothing else holds the buffer), and values put back as a Flex tensor of any rank.

use std::any::Any;

use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn::tensor::{Shape, Tensor, TensorData, TensorPrimitive};

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
