//! Compute devices: the user's choice (`cpu`, `wgpu:N`, `cuda:N`), probing it without crashing, listing what this
//! machine has, and running backend-generic work on the backend a choice names.
//!
//! The device is always chosen explicitly in the config, on the command line or in the GUI, and never changed
//! silently. The CPU backend is Burn Flex; wgpu (Burn's CubeCL kernels over Vulkan, or Metal on macOS) comes with the
//! default `wgpu` feature, CUDA with `--features cuda`. GPU runtimes panic when no driver or adapter is there, so
//! the first contact runs inside `catch_unwind` with the panic message captured ([`probe`]) and becomes a
//! [`DeviceError`] the GUI and the CLI can show.
//!
//! | file          | job |
//! |---------------|-----|
//! | `mod.rs`      | [`DeviceChoice`], [`DeviceError`], backend aliases, what a backend cannot do ([`unsupported`]) |
//! | `probe.rs`    | [`probe`] one choice; [`available`]: every device this machine has, for the GUI's list |
//! | `adapters.rs` | wgpu's adapters as wgpu enumerates them, and adapter N as CubeCL's `WgpuDevice` |
//! | `host.rs`     | Flex tensors in host code: downcasts, f32 values out and back ([`host::host_values`]) |
//! | `dispatch.rs` | [`OnBackend`] / [`OnAutodiff`]: generic work run on the backend of a choice |

use std::fmt;

#[cfg(feature = "wgpu")]
mod adapters;
mod dispatch;
pub mod host;
mod probe;

#[cfg(feature = "wgpu")]
pub use adapters::{wgpu_adapters, WgpuAdapter};
pub use dispatch::{run_autodiff, run_autodiff_peers, run_on, OnAutodiff, OnAutodiffPeers, OnBackend};
#[cfg(feature = "wgpu")]
pub use probe::wgpu_device;
pub use probe::{available, cpu, probe, DeviceInfo};

/// Burn's CPU backend, used for inference and (wrapped in `Autodiff`) for training on the CPU.
pub type CpuBackend = burn::backend::Flex;

/// Burn's wgpu backend (with the default `wgpu` feature): f32 floats, i32 integers; fused where the build has
/// `wgpu-fusion`.
#[cfg(feature = "wgpu")]
pub type WgpuBackend = burn::backend::Wgpu;

/// Burn's CUDA backend (only with `--features cuda`).
#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Cuda;

/// A device as written in a config: `cpu`, `wgpu:N` (adapter N in wgpu's enumeration) or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceChoice {
    Cpu,
    Wgpu(usize),
    Cuda(usize),
}

impl DeviceChoice {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let indexed = |prefix: &str| t.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok());
        match t {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            "wgpu" => Ok(Self::Wgpu(0)),
            _ => indexed("cuda:")
                .map(Self::Cuda)
                .or_else(|| indexed("wgpu:").map(Self::Wgpu))
                .ok_or_else(|| "expected \"cpu\", \"wgpu:N\" or \"cuda:N\" (e.g. \"wgpu:0\")".to_string()),
        }
    }

    /// The cargo feature a build needs for this device (`None` for the CPU).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Self::Cpu => None,
            Self::Wgpu(_) => Some("wgpu"),
            Self::Cuda(_) => Some("cuda"),
        }
    }

    /// The backend's name in messages: "CPU", "wgpu", "CUDA".
    pub fn backend_name(self) -> &'static str {
        match self {
            Self::Cpu => "CPU",
            Self::Wgpu(_) => "wgpu",
            Self::Cuda(_) => "CUDA",
        }
    }

    /// Whether this binary was built with this device's backend.
    pub fn compiled(self) -> bool {
        match self {
            Self::Cpu => true,
            Self::Wgpu(_) => cfg!(feature = "wgpu"),
            Self::Cuda(_) => cfg!(feature = "cuda"),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Wgpu(i) => write!(f, "wgpu:{i}"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("{0}: this build has no {name} support; rebuild with `cargo build --release --features {feature}`, or choose device = \"cpu\"", name = .0.backend_name(), feature = .0.feature().unwrap_or("cpu"))]
    NotBuilt(DeviceChoice),
    #[error("{device}: no GPU adapter found; install a Vulkan driver (e.g. mesa-vulkan-drivers, or your GPU vendor's), or choose device = \"cpu\"")]
    NoAdapter { device: DeviceChoice },
    #[error("{device}: there is no wgpu adapter {device}; this machine has {list}")]
    NoSuchAdapter { device: DeviceChoice, list: String },
    #[error("{device}: no CUDA device ({detail}); check `nvidia-smi`, or choose device = \"cpu\"")]
    NoCuda { device: DeviceChoice, detail: String },
    #[error("{device}: the device failed to start ({detail}); choose another device (`adaptsv devices` lists them)")]
    Unavailable { device: DeviceChoice, detail: String },
}

/// What `device` cannot run of a model whose frozen backbone is in `backbone_dtype` (`"f32"` or `"bf16"`), as a
/// sentence, or `None` when it can. Checked by validation, so a run is refused before anything starts.
pub fn unsupported(device: DeviceChoice, backbone_dtype: &str) -> Option<String> {
    match (device, backbone_dtype) {
        (DeviceChoice::Wgpu(_), "bf16") => Some(
            "wgpu has no bf16 (WGSL and Vulkan compute have no bfloat16 type); use \"f32\" on wgpu, or bf16 on cuda:N"
                .into(),
        ),
        _ => None,
    }
}

/// Threads the CPU backend uses: Flex's rayon pool honours `RAYON_NUM_THREADS`, else takes every core.
pub fn cpu_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Whether this binary was built with the CUDA backend.
pub fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

/// A reader of the bytes the GPU allocator of `choice` holds now (CubeCL's `bytes_reserved`: memory pages taken
/// from the driver, in use or cached for reuse; PyTorch's `memory_reserved`); it answers `None` on the CPU or
/// where the figure cannot be read. Make it after [`probe`] accepted the device (the client exists then, and the
/// reader only reads its counters); the device is resolved once, here.
pub fn memory_reader(choice: DeviceChoice) -> Box<dyn Fn() -> Option<u64>> {
    match choice {
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(index) => Box::new(move || {
            use cubecl::Runtime;
            let client = cubecl::cuda::CudaRuntime::client(&cubecl::cuda::CudaDevice { index });
            client.memory_usage().ok().map(|u| u.bytes_reserved)
        }),
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu(index) => match probe::wgpu_device(index) {
            Ok(device) => Box::new(move || {
                use cubecl::Runtime;
                let client = cubecl::wgpu::WgpuRuntime::client(&device);
                client.memory_usage().ok().map(|u| u.bytes_reserved)
            }),
            Err(_) => Box::new(|| None),
        },
        _ => Box::new(|| None),
    }
}

/// Runs `f`, turning a panic into its message without printing it to stderr.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn quiet_catch_unwind<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(previous);
    result
        .map_err(|payload| panic_message(payload.as_ref()).unwrap_or_else(|| "the GPU runtime failed to start".into()))
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
        assert_eq!(DeviceChoice::parse("wgpu:2"), Ok(DeviceChoice::Wgpu(2)));
        assert_eq!(DeviceChoice::parse(" wgpu "), Ok(DeviceChoice::Wgpu(0)));
        assert!(DeviceChoice::parse("gpu").is_err());
        assert!(DeviceChoice::parse("cuda:x").is_err());
        assert!(DeviceChoice::parse("wgpu:-1").is_err());
        for c in [DeviceChoice::Cpu, DeviceChoice::Wgpu(3), DeviceChoice::Cuda(1)] {
            assert_eq!(DeviceChoice::parse(&c.to_string()), Ok(c));
        }
    }

    #[test]
    fn bf16_is_refused_on_wgpu_only() {
        assert!(unsupported(DeviceChoice::Wgpu(0), "bf16").unwrap().contains("no bf16"));
        assert!(unsupported(DeviceChoice::Wgpu(0), "f32").is_none());
        assert!(unsupported(DeviceChoice::Cuda(0), "bf16").is_none());
    }

    #[test]
    fn a_device_missing_from_the_build_names_its_feature() {
        let e = DeviceError::NotBuilt(DeviceChoice::Cuda(0)).to_string();
        assert!(e.contains("--features cuda") && e.starts_with("cuda:0"), "{e}");
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
