//! Running backend-generic work on the backend a [`DeviceChoice`] names.
//!
//! Rust has no generic closures, so work that is generic over the Burn backend is a small struct implementing
//! [`OnBackend`] (inference: Flex, wgpu or CUDA as they are) or [`OnAutodiff`] (training: each under Burn's
//! `Autodiff`); [`run_on`] / [`run_autodiff`] pick the backend type and its device from the choice. This is the one
//! place where a device name becomes a Burn type: commands, the engine and the benchmarks all go through it.

use burn::tensor::backend::{AutodiffBackend, Backend};

use super::{DeviceChoice, DeviceError};

/// Work generic over an inference backend.
pub trait OnBackend {
    type Output;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output;
}

/// Work generic over a training (autodiff) backend.
pub trait OnAutodiff {
    type Output;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

/// Runs `job` on the backend of `choice`. Resolves the device (for `wgpu:N`, the adapter) without touching it:
/// probe first ([`super::probe`]) where a clear error matters more than the first kernel's.
pub fn run_on<J: OnBackend>(choice: DeviceChoice, job: J) -> Result<J::Output, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(job.run::<super::CpuBackend>(Default::default())),
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu(index) => Ok(job.run::<super::WgpuBackend>(super::probe::wgpu_device(index)?)),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(index) => Ok(job.run::<super::CudaBackend>(burn::backend::cuda::CudaDevice { index })),
        #[allow(unreachable_patterns)]
        _ => Err(DeviceError::NotBuilt(choice)),
    }
}

/// Runs `job` on the autodiff backend of `choice` (see [`run_on`]).
pub fn run_autodiff<J: OnAutodiff>(choice: DeviceChoice, job: J) -> Result<J::Output, DeviceError> {
    use burn::backend::Autodiff;
    match choice {
        DeviceChoice::Cpu => Ok(job.run::<Autodiff<super::CpuBackend>>(Default::default())),
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu(index) => Ok(job.run::<Autodiff<super::WgpuBackend>>(super::probe::wgpu_device(index)?)),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(index) => {
            Ok(job.run::<Autodiff<super::CudaBackend>>(burn::backend::cuda::CudaDevice { index }))
        }
        #[allow(unreachable_patterns)]
        _ => Err(DeviceError::NotBuilt(choice)),
    }
}

/// Work generic over a training backend with one device per data-parallel peer.
pub trait OnAutodiffPeers {
    type Output;
    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Self::Output;
}

/// Runs `job` on the autodiff backend of `choices`, one device each (a data-parallel run's peers). All choices are
/// of one kind (validation refuses a mix: one Burn backend type per run); a mix here is refused as not built.
pub fn run_autodiff_peers<J: OnAutodiffPeers>(choices: &[DeviceChoice], job: J) -> Result<J::Output, DeviceError> {
    use burn::backend::Autodiff;
    let Some(first) = choices.first().copied() else {
        return Err(DeviceError::Unavailable {
            device: DeviceChoice::Cpu,
            detail: "no device was named".into(),
        });
    };
    if let Some(other) = choices.iter().find(|c| std::mem::discriminant(*c) != std::mem::discriminant(&first)) {
        return Err(DeviceError::Unavailable {
            device: *other,
            detail: format!("the peers of one run are all of one kind ({} here)", first.backend_name()),
        });
    }
    match first {
        DeviceChoice::Cpu => Ok(job.run::<Autodiff<super::CpuBackend>>(vec![Default::default(); choices.len()])),
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu(_) => {
            let mut devices = Vec::new();
            for choice in choices {
                if let DeviceChoice::Wgpu(index) = choice {
                    devices.push(super::probe::wgpu_device(*index)?);
                }
            }
            Ok(job.run::<Autodiff<super::WgpuBackend>>(devices))
        }
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(_) => {
            let devices = choices
                .iter()
                .filter_map(|c| match c {
                    DeviceChoice::Cuda(index) => Some(burn::backend::cuda::CudaDevice { index: *index }),
                    _ => None,
                })
                .collect();
            Ok(job.run::<Autodiff<super::CudaBackend>>(devices))
        }
        #[allow(unreachable_patterns)]
        _ => Err(DeviceError::NotBuilt(first)),
    }
}
