//! wgpu's adapters as this machine has them, and `wgpu:N` as the `WgpuDevice` CubeCL opens.
//!
//! `wgpu:N` is adapter N in wgpu's own enumeration for the graphics API CubeCL uses on this OS (its
//! `AutoGraphicsApi`: Metal on macOS, Vulkan everywhere else, Windows included; DX12 and OpenGL are never picked).
//! CubeCL does not open an adapter by that index: it takes a `WgpuDevice` such as `DiscreteGpu(k)` (the k-th
//! discrete GPU in the same enumeration) or `Cpu` (the first software adapter). [`WgpuAdapter::device`] is that
//! translation, following CubeCL 0.10's `select_from_adapter_list`; an adapter it cannot reach (a second
//! software adapter) is listed with the reason and refused.

use burn::backend::wgpu::graphics::{AutoGraphicsApi, GraphicsApi};
use burn::backend::wgpu::WgpuDevice;

/// One adapter of wgpu's enumeration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WgpuAdapter {
    /// Its place in the enumeration: the N of `wgpu:N`.
    pub index: usize,
    /// As the driver names it (e.g. "NVIDIA H200", "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub name: String,
    /// The graphics API: "Vulkan", "Metal".
    pub api: String,
    /// "discrete GPU", "integrated GPU", "virtual GPU", "CPU (software)" or "other".
    pub kind: String,
    /// CubeCL's name for it, or why it cannot be opened.
    pub device: Result<WgpuDevice, String>,
}

impl WgpuAdapter {
    /// One line for lists and errors: `wgpu:0 llvmpipe (…) — Vulkan, CPU (software)`.
    pub fn describe(&self) -> String {
        format!("wgpu:{} {} — {}, {}", self.index, self.name, self.api, self.kind)
    }
}

/// Every adapter wgpu finds for CubeCL's graphics API, in wgpu's order. Empty where no driver is installed
/// (wgpu opens the Vulkan loader at run time and finds nothing without one).
pub fn wgpu_adapters() -> Vec<WgpuAdapter> {
    let backend = AutoGraphicsApi::backend();
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: backend.into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let infos: Vec<wgpu::AdapterInfo> = block_on(instance.enumerate_adapters(backend.into()))
        .iter()
        .map(|a| a.get_info())
        .collect();
    let types: Vec<wgpu::DeviceType> = infos.iter().map(|i| i.device_type).collect();
    infos
        .into_iter()
        .enumerate()
        .map(|(index, info)| WgpuAdapter {
            index,
            api: format!("{:?}", info.backend),
            kind: kind_name(info.device_type).into(),
            name: info.name,
            device: cubecl_device(&types, index),
        })
        .collect()
}

fn kind_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "CPU (software)",
        wgpu::DeviceType::Other => "other",
    }
}

/// The `WgpuDevice` under which CubeCL's `select_from_adapter_list` picks the adapter at `index` of an
/// enumeration whose device types are `types`: the k-th of its type, the first CPU adapter only, and an adapter
/// of type Other as the fallback it is there (position j among the others, asked for as the j-th of a type with
/// at most j adapters).
fn cubecl_device(types: &[wgpu::DeviceType], index: usize) -> Result<WgpuDevice, String> {
    use wgpu::DeviceType as T;
    let t = types[index];
    let k = types[..index].iter().filter(|&&x| x == t).count();
    match t {
        T::DiscreteGpu => Ok(WgpuDevice::DiscreteGpu(k)),
        T::IntegratedGpu => Ok(WgpuDevice::IntegratedGpu(k)),
        T::VirtualGpu => Ok(WgpuDevice::VirtualGpu(k)),
        T::Cpu if k == 0 => Ok(WgpuDevice::Cpu),
        T::Cpu => Err("CubeCL opens only the first software adapter".into()),
        T::Other => {
            let count = |x: T| types.iter().filter(|&&y| y == x).count();
            if count(T::DiscreteGpu) <= k {
                Ok(WgpuDevice::DiscreteGpu(k))
            } else if count(T::IntegratedGpu) <= k {
                Ok(WgpuDevice::IntegratedGpu(k))
            } else if count(T::VirtualGpu) <= k {
                Ok(WgpuDevice::VirtualGpu(k))
            } else {
                Err("CubeCL cannot select this adapter of an unknown type here".into())
            }
        }
    }
}

/// Polls a future to completion on this thread (wgpu's native enumeration is ready at once).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgpu::DeviceType as T;

    #[test]
    fn adapters_map_to_cubecl_devices_as_it_selects_them() {
        let types = [
            T::DiscreteGpu,
            T::Cpu,
            T::DiscreteGpu,
            T::IntegratedGpu,
            T::Cpu,
            T::Other,
        ];
        let got: Vec<_> = (0..types.len()).map(|i| cubecl_device(&types, i)).collect();
        assert_eq!(got[0], Ok(WgpuDevice::DiscreteGpu(0)));
        assert_eq!(got[1], Ok(WgpuDevice::Cpu));
        assert_eq!(got[2], Ok(WgpuDevice::DiscreteGpu(1)));
        assert_eq!(got[3], Ok(WgpuDevice::IntegratedGpu(0)));
        assert!(got[4].is_err());
        // The first Other adapter: a request for VirtualGpu(0) finds no virtual GPU and falls back to others[0].
        assert_eq!(got[5], Ok(WgpuDevice::VirtualGpu(0)));
    }
}
