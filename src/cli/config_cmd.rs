//! `adaptsv config check FILE` and `adaptsv config default`: the CLI twin of the Configure tab's validation.

use crate::config::{ConfigError, ExperimentConfig, DEFAULT_TOML};
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file: prints every problem (key, value, why) and exits non-zero if there is any.
    Check {
        /// The experiment config (TOML).
        file: PathBuf,
        /// Do not check that the files and folders the config names exist on this machine.
        #[arg(long)]
        no_paths: bool,
    },
    /// Print the built-in default experiment (a starting point for your own).
    Default,
}

pub fn run(cmd: &ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Default => {
            print!("{DEFAULT_TOML}");
            Ok(())
        }
        ConfigCommand::Check { file, no_paths } => check(file, *no_paths),
    }
}

fn check(file: &PathBuf, no_paths: bool) -> anyhow::Result<()> {
    let config = match ExperimentConfig::load(file) {
        Ok(c) => c,
        Err(e @ ConfigError::Invalid { .. }) => anyhow::bail!("{e}"),
        Err(e) => anyhow::bail!("{e}"),
    };
    if !no_paths {
        let problems = config.check_paths();
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
            anyhow::bail!(
                "{}: {} problem(s):\n{}\n(use --no-paths to check a config meant for another machine)",
                file.display(),
                problems.len(),
                list.join("\n")
            );
        }
    }
    println!("{}: ok", file.display());
    println!("  {}", crate::config::describe(&config));
    Ok(())
}
