//! The one on-disk form of named f32 tensors that adaptsv writes itself (step checkpoints, the frozen backbone,
//! optimiser states): a safetensors file whose metadata names its `format`, written atomically and read back
//! with every problem (not safetensors, another format, another dtype) an error naming the file.

use super::EngineError;
use std::collections::HashMap;
use std::path::Path;

/// A named f32 tensor: (name, shape, values).
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Writes `tensors` with `metadata` (which must hold `format`) to `path`, atomically, creating its folder.
/// Returns the bytes written.
pub fn write_f32(path: &Path, tensors: &[NamedTensor], metadata: HashMap<String, String>) -> Result<u64, EngineError> {
    let err = |message: String| EngineError::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b).map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    let data = safetensors::serialize(views, Some(metadata)).map_err(|e| err(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    crate::runs::write_atomic(path, &data).map_err(|e| err(e.to_string()))?;
    Ok(data.len() as u64)
}

/// What [`read_f32`] returns: the metadata and the tensors by name, `(shape, values)`.
pub struct F32File {
    pub metadata: HashMap<String, String>,
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

/// Reads a file written by [`write_f32`] whose metadata `format` is `format` (`what` names it in errors).
pub fn read_f32(path: &Path, format: &str, what: &str) -> Result<F32File, EngineError> {
    let err = |message: String| EngineError::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| err(e.to_string()))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    if metadata.get("format").map(String::as_str) != Some(format) {
        return Err(err(format!("not {what} (metadata format should be {format})")));
    }
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(e.to_string()))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(err(format!("{name}: expected f32, found {:?}", view.dtype())));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok(F32File { metadata, tensors })
}
