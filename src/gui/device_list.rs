//! The devices the Configure form offers, probed off the UI thread.
//!
//! Probing opens every GPU runtime (Vulkan's loader, each adapter, CUDA's driver) and can take seconds, so a
//! named worker runs [`crate::device::available`] and sends the list; until it answers the form offers the CPU and
//! the device the config already names, marked "probing devices…". "Rescan" asks again (a driver installed
//! while the app runs).

use crate::device::{DeviceChoice, DeviceInfo};
use crossbeam_channel::{unbounded, Receiver};

pub struct DeviceList {
    /// The newest answer.
    found: Option<Vec<DeviceInfo>>,
    pending: Option<Receiver<Vec<DeviceInfo>>>,
}

impl Default for DeviceList {
    /// Starts probing at once.
    fn default() -> Self {
        let mut list = Self {
            found: None,
            pending: None,
        };
        list.rescan();
        list
    }
}

impl DeviceList {
    /// Probes again on a worker; the previous list stays shown until the answer.
    pub fn rescan(&mut self) {
        let (tx, rx) = unbounded();
        let spawned = std::thread::Builder::new()
            .name("adaptsv-devices".into())
            .spawn(move || {
                let _ = tx.send(crate::device::available());
            });
        self.pending = spawned.is_ok().then_some(rx);
    }

    /// Takes the worker's answer if it came; true while still probing (ask for a repaint).
    pub fn poll(&mut self) -> bool {
        if let Some(rx) = &self.pending {
            match rx.try_recv() {
                Ok(list) => {
                    self.found = Some(list);
                    self.pending = None;
                }
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => self.pending = None,
            }
        }
        false
    }

    pub fn probing(&self) -> bool {
        self.pending.is_some()
    }

    /// The devices to offer: the probed list (or the CPU while probing), plus `current` when it is not in it
    /// (e.g. `cuda:0` in a build without CUDA), marked unavailable with the reason.
    pub fn entries(&self, current: &str) -> Vec<DeviceInfo> {
        let mut list = self.found.clone().unwrap_or_else(|| vec![crate::device::cpu()]);
        if let Ok(choice) = DeviceChoice::parse(current) {
            if !list.iter().any(|d| d.choice == choice) {
                let why = if !choice.compiled() {
                    crate::device::DeviceError::NotBuilt(choice).to_string()
                } else if self.found.is_none() {
                    "probing devices…".to_string()
                } else {
                    "not found on this machine".to_string()
                };
                list.push(DeviceInfo {
                    choice,
                    label: String::new(),
                    usable: Err(why),
                });
            }
        }
        list
    }
}
