//! Reads a weights file into plain f32 arrays keyed by name: safetensors (any float dtype) or a PyTorch
//! `pytorch_model.bin` zip archive through the restricted reader in [`super::torch_pickle`].

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::error::BackboneError;

/// One checkpoint tensor, converted to f32, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Reads every tensor of `path` (`.safetensors`, or else a PyTorch zip checkpoint).
pub(crate) fn read_weights(path: &Path) -> Result<BTreeMap<String, RawTensor>, BackboneError> {
    let bytes = std::fs::read(path).map_err(|error| BackboneError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let format_err = |message: String| BackboneError::WeightsFormat {
        path: path.to_path_buf(),
        message,
    };
    if path.extension().is_some_and(|e| e == "safetensors") {
        read_safetensors(&bytes).map_err(format_err)
    } else {
        super::torch_pickle::read_torch_zip(&bytes).map_err(format_err)
    }
}

fn read_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, RawTensor>, String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for (name, view) in st.iter() {
        let data = decode_floats(view.dtype(), view.data()).ok_or_else(|| {
            format!(
                "tensor {name} has dtype {:?}, which this reader does not decode",
                view.dtype()
            )
        })?;
        out.insert(
            name.to_string(),
            RawTensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(out)
}

/// Little-endian bytes of `dtype` to f32 (integer buffers too, so that their keys can still be reported);
/// `None` for exotic dtypes (fp8, complex, …).
pub(crate) fn decode_floats(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::I64 => bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        Dtype::I32 => bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
            .collect(),
        Dtype::U8 | Dtype::BOOL => bytes.iter().map(|&b| f32::from(b)).collect(),
        _ => return None,
    })
}
