//! Compute devices: parsing the user's choice (`cpu`, `cuda:N`) and probing it without crashing.
//!
//! The device is always chosen explicitly in the config or the GUI and never changed silently. The CPU backend
//! is Burn Flex; CUDA is available when the crate is built with `--features cuda`. Burn's CUDA client panics when
//! no driver is present, so [`probe`] runs the first contact inside `catch_unwind` with the panic message
//! captured, and turns it into a [`DeviceError`] the GUI and CLI can show.

use std::fmt;

/// Burn's CPU backend, used for inference and (wrapped in `Autodiff`) for training on the CPU.
pub type CpuBackend = burn::backend::Flex;

/// Burn's CUDA backend (only with `--features cuda`).
#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Cuda;

/// A device as written in a config: `cpu` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Cuda(usize),
}

impl DeviceChoice {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            t => t
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| "expected \"cpu\" or \"cuda:N\" (e.g. \"cuda:0\")".to_string()),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("{0}: this build has no CUDA support; rebuild with `cargo build --release --features cuda`, or choose device = \"cpu\"")]
    NotBuilt(DeviceChoice),
    #[error("{device}: no CUDA device ({detail}); check `nvidia-smi`, or choose device = \"cpu\"")]
    Unavailable { device: DeviceChoice, detail: String },
}

/// Whether this binary was built with the CUDA backend.
/// Threads the CPU backend uses: Flex's rayon pool honours `RAYON_NUM_THREADS`, else takes every core.
pub fn cpu_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

pub fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

/// Checks that `choice` can run work here and describes it (e.g. "CPU (Burn Flex, 2 threads)").
pub fn probe(choice: DeviceChoice) -> Result<String, DeviceError> {
    match choice {
        DeviceChoice::Cpu => {
            Ok(format!("CPU (Burn Flex, {} threads)", cpu_threads()))
        }
        DeviceChoice::Cuda(index) => probe_cuda(choice, index),
    }
}

#[cfg(not(feature = "cuda"))]
fn probe_cuda(choice: DeviceChoice, _index: usize) -> Result<String, DeviceError> {
    Err(DeviceError::NotBuilt(choice))
}

#[cfg(feature = "cuda")]
fn probe_cuda(choice: DeviceChoice, index: usize) -> Result<String, DeviceError> {
    use burn::tensor::Tensor;
    let device = burn::backend::cuda::CudaDevice { index };
    let outcome = quiet_catch_unwind(move || {
        let t = Tensor::<CudaBackend, 1>::from_floats([1.0, 2.0, 3.0], &device);
        t.sum().into_scalar()
    });
    match outcome {
        Ok(v) if (v - 6.0).abs() < 1e-6 => Ok(format!("CUDA device {index} (Burn CUDA)")),
        Ok(v) => Err(DeviceError::Unavailable {
            device: choice,
            detail: format!("a test sum gave {v} instead of 6"),
        }),
        Err(detail) => Err(DeviceError::Unavailable { device: choice, detail }),
    }
}

/// Bytes the CUDA allocator of device `index` holds now (cubecl's `bytes_reserved`: memory pages taken from the
/// driver, in use or cached for reuse; PyTorch's `memory_reserved`), or `None` where it cannot be read. Call it
/// only on a device that [`probe`] accepted (the client exists then, and this reads its counters).
#[cfg(feature = "cuda")]
pub fn cuda_reserved_bytes(index: usize) -> Option<u64> {
    use cubecl::Runtime;
    let client = cubecl::cuda::CudaRuntime::client(&cubecl::cuda::CudaDevice { index });
    client.memory_usage().ok().map(|u| u.bytes_reserved)
}

/// Runs `f`, turning a panic into its message without printing it to stderr.
#[cfg(feature = "cuda")]
fn quiet_catch_unwind<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(previous);
    result
        .map_err(|payload| panic_message(payload.as_ref()).unwrap_or_else(|| "the CUDA runtime failed to start".into()))
}

/// The message a panic was raised with, if it carried one (`panic!("…")` gives a `String` or a `&str`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!(DeviceChoice::parse("cpu"), Ok(DeviceChoice::Cpu));
        assert_eq!(DeviceChoice::parse("cuda:1"), Ok(DeviceChoice::Cuda(1)));
        assert!(DeviceChoice::parse("gpu").is_err());
        assert!(DeviceChoice::parse("cuda:x").is_err());
    }

    #[test]
    fn probing_cuda_here_reports_instead_of_crashing() {
        // On a machine without a driver (CI) or a build without the feature this must be an error, not a panic;
        // on a GPU machine with the feature it succeeds. Either way the call returns.
        match probe(DeviceChoice::Cuda(0)) {
            Ok(desc) => assert!(desc.contains("CUDA")),
            Err(e) => assert!(e.to_string().contains("cuda:0")),
        }
    }
}
