//! `adaptsv devices`: the devices this machine has, as the GUI's device list shows them: the CPU with its thread
//! count, each wgpu adapter by name, API and kind, each CUDA device (in `cuda` builds), each probed.

use std::io::Write;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct DevicesArgs {
    /// One JSON object per line (`device`, `label`, `usable`, `problem`).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &DevicesArgs) -> anyhow::Result<()> {
    let list = crate::device::available();
    let mut out = std::io::stdout().lock();
    for d in &list {
        if args.json {
            let line = serde_json::json!({
                "device": d.choice.to_string(),
                "label": d.label,
                "usable": d.usable.is_ok(),
                "problem": d.usable.as_ref().err(),
            });
            writeln!(out, "{line}")?;
        } else {
            match &d.usable {
                Ok(()) => writeln!(out, "{:<8} {}", d.choice.to_string(), d.label)?,
                Err(why) => writeln!(out, "{:<8} {} — unavailable: {why}", d.choice.to_string(), d.label)?,
            }
        }
    }
    if !args.json {
        if !crate::device::DeviceChoice::Wgpu(0).compiled() {
            writeln!(
                out,
                "(this build has no wgpu backend: build with the default features to list GPU adapters)"
            )?;
        } else if !list
            .iter()
            .any(|d| matches!(d.choice, crate::device::DeviceChoice::Wgpu(_)))
        {
            writeln!(
                out,
                "(no wgpu adapter found: install a Vulkan driver, e.g. mesa-vulkan-drivers, or your GPU vendor's)"
            )?;
        }
    }
    Ok(())
}
