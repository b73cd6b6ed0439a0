//! The `adaptsv` binary: parse the command line, run it, and map errors to exit codes in one place
//! (0 ok, 1 the command failed, 2 the command line was wrong — clap's own code).

use clap::Parser;

fn main() {
    let cli = adaptsv::cli::Cli::parse();
    if let Err(e) = adaptsv::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
