//! `adaptsv gui`: open the desktop app, optionally on a given config file or tab.

use crate::gui::{AppOptions, Tab};
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct GuiArgs {
    /// Experiment config to open (default: the built-in default experiment).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Folder of example configs listed in the Configure tab.
    #[arg(long, default_value = "experiments")]
    pub examples: PathBuf,
    /// Folder holding run folders.
    #[arg(long, default_value = "experiments/runs")]
    pub runs: PathBuf,
    /// Tab to show first (default: the one open when the app was last closed).
    #[arg(long, value_enum)]
    pub tab: Option<TabArg>,
    /// Start without the remembered theme, layout and last config.
    #[arg(long)]
    pub fresh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TabArg {
    Configure,
    Monitor,
    Compare,
}

impl Default for GuiArgs {
    fn default() -> Self {
        Self {
            config: None,
            examples: PathBuf::from("experiments"),
            runs: PathBuf::from("experiments/runs"),
            tab: None,
            fresh: false,
        }
    }
}

pub fn run(args: &GuiArgs) -> anyhow::Result<()> {
    let initial_config = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
            Some((path.display().to_string(), text))
        }
        None => None,
    };
    crate::gui::run(AppOptions {
        examples_dir: args.examples.clone(),
        runs_root: args.runs.clone(),
        initial_config,
        initial_tab: args.tab.map(|t| match t {
            TabArg::Configure => Tab::Configure,
            TabArg::Monitor => Tab::Monitor,
            TabArg::Compare => Tab::Compare,
        }),
        fresh: args.fresh,
    })
}
