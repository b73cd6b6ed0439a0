//! Probing a device before any work is put on it, and listing the devices this machine has.
//!
//! A probe resolves the choice (for `wgpu:N`, adapter N of wgpu's enumeration), then makes first contact with a
//! three-element sum read back from the device, inside `catch_unwind`: a missing driver, adapter or library
//! becomes a [`DeviceError`] naming what to install or choose, never a panic. [`available`] lists every device
//! the GUI offers, each probed the same way; it opens every GPU it lists, so call it off the UI thread.

use super::{DeviceChoice, DeviceError};

/// One entry of the device list: what it is and whether it works here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// As a config writes it: `cpu`, `wgpu:0`, `cuda:1`.
    pub choice: DeviceChoice,
    /// In words: "CPU (Burn Flex, 2 threads)", "llvmpipe (…) — Vulkan, CPU (software)".
    pub label: String,
    /// `Err(reason)` where the device is listed but cannot be used.
    pub usable: Result<(), String>,
}

/// Checks that `choice` can run work here and describes it (e.g. "CPU (Burn Flex, 2 threads)").
pub fn probe(choice: DeviceChoice) -> Result<String, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu().label),
        DeviceChoice::Wgpu(index) => probe_wgpu(choice, index),
        DeviceChoice::Cuda(index) => probe_cuda(choice, index),
    }
}

/// Every device this machine has: the CPU, each wgpu adapter (built with `wgpu`), each CUDA device (built with
/// `cuda`: `cuda:0`, `cuda:1`, … until one fails to open, at most 16; without it, `cuda:0` marked as not in this
/// build). Slow on first call (GPU runtimes start).
pub fn available() -> Vec<DeviceInfo> {
    let mut list = vec![cpu()];
    #[cfg(feature = "wgpu")]
    for adapter in super::wgpu_adapters() {
        let choice = DeviceChoice::Wgpu(adapter.index);
        let usable = probe_adapter(&adapter).map(|_| ()).map_err(|e| e.to_string());
        list.push(DeviceInfo {
            choice,
            label: format!("{} — {}, {}", adapter.name, adapter.api, adapter.kind),
            usable,
        });
    }
    // cuda:0 is listed even when it fails (in a build without CUDA too: the reason says what to rebuild with).
    for index in 0..16 {
        let choice = DeviceChoice::Cuda(index);
        match probe(choice) {
            Ok(label) => list.push(DeviceInfo {
                choice,
                label,
                usable: Ok(()),
            }),
            Err(e) => {
                if index == 0 {
                    list.push(DeviceInfo {
                        choice,
                        label: "CUDA".into(),
                        usable: Err(e.to_string()),
                    });
                }
                break;
            }
        }
    }
    list
}

/// The CPU entry: always usable, labelled with the thread count.
pub fn cpu() -> DeviceInfo {
    DeviceInfo {
        choice: DeviceChoice::Cpu,
        label: format!("CPU (Burn Flex, {} threads)", super::cpu_threads()),
        usable: Ok(()),
    }
}

/// The wgpu device `wgpu:<index>` opens (CubeCL's name for adapter `index`), or why it cannot be had. It does not
/// touch the device: [`probe`] does.
#[cfg(feature = "wgpu")]
pub fn wgpu_device(index: usize) -> Result<burn::backend::wgpu::WgpuDevice, DeviceError> {
    let choice = DeviceChoice::Wgpu(index);
    wgpu_adapter(index)?
        .device
        .map_err(|detail| DeviceError::Unavailable { device: choice, detail })
}

/// Adapter `index` of wgpu's enumeration, or an error naming what this machine has instead.
#[cfg(feature = "wgpu")]
fn wgpu_adapter(index: usize) -> Result<super::WgpuAdapter, DeviceError> {
    let choice = DeviceChoice::Wgpu(index);
    let mut adapters = super::wgpu_adapters();
    if adapters.is_empty() {
        return Err(DeviceError::NoAdapter { device: choice });
    }
    if index >= adapters.len() {
        let list = adapters.iter().map(|a| a.describe()).collect::<Vec<_>>().join("; ");
        return Err(DeviceError::NoSuchAdapter { device: choice, list });
    }
    Ok(adapters.swap_remove(index))
}

#[cfg(feature = "wgpu")]
fn probe_wgpu(_choice: DeviceChoice, index: usize) -> Result<String, DeviceError> {
    probe_adapter(&wgpu_adapter(index)?)
}

/// First contact with one enumerated adapter; its description when it answers.
#[cfg(feature = "wgpu")]
fn probe_adapter(adapter: &super::WgpuAdapter) -> Result<String, DeviceError> {
    let choice = DeviceChoice::Wgpu(adapter.index);
    let unavailable = |detail| DeviceError::Unavailable { device: choice, detail };
    let device = adapter.device.clone().map_err(unavailable)?;
    first_contact::<super::WgpuBackend>(choice, device, unavailable)?;
    Ok(format!(
        "{} (Burn wgpu, {}, {})",
        adapter.name, adapter.api, adapter.kind
    ))
}

#[cfg(not(feature = "wgpu"))]
fn probe_wgpu(choice: DeviceChoice, _index: usize) -> Result<String, DeviceError> {
    Err(DeviceError::NotBuilt(choice))
}

#[cfg(feature = "cuda")]
fn probe_cuda(choice: DeviceChoice, index: usize) -> Result<String, DeviceError> {
    let device = burn::backend::cuda::CudaDevice { index };
    first_contact::<super::CudaBackend>(choice, device, |detail| DeviceError::NoCuda { device: choice, detail })?;
    Ok(format!("CUDA device {index} (Burn CUDA)"))
}

#[cfg(not(feature = "cuda"))]
fn probe_cuda(choice: DeviceChoice, _index: usize) -> Result<String, DeviceError> {
    Err(DeviceError::NotBuilt(choice))
}

/// Sums `[1, 2, 3]` on `device` and reads it back, a panic caught and turned into `error(message)`.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn first_contact<B: burn::tensor::backend::Backend>(
    choice: DeviceChoice,
    device: B::Device,
    error: impl Fn(String) -> DeviceError,
) -> Result<(), DeviceError> {
    use burn::tensor::{ElementConversion, Tensor};
    // The device handle is only moved in and used once: nothing is left half-updated for the caller to see.
    let device = std::panic::AssertUnwindSafe(device);
    let outcome = super::quiet_catch_unwind(move || {
        let device = device;
        let t = Tensor::<B, 1>::from_floats([1.0, 2.0, 3.0], &device.0);
        t.sum().into_scalar().elem::<f64>()
    });
    match outcome {
        Ok(v) if (v - 6.0).abs() < 1e-6 => Ok(()),
        Ok(v) => Err(error(format!("{choice}: a test sum gave {v} instead of 6"))),
        Err(detail) => Err(error(detail)),
    }
}
