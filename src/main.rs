//! The `adaptsv` binary: parse the command line, run it, and map errors to exit codes in one place
//! (0 ok, 1 the command failed, 2 the command line was wrong — clap's own code).

use clap::Parser;

fn main() {
    let cli = adaptsv::cli::Cli::parse();
    if let Err(e) = adaptsv::cli::run(cli) {
        eprintln!("error: {}", describe(&e));
        std::process::exit(1);
    }
}

/// The error and its causes joined by ": ", leaving out a cause whose text the message before it already
/// carries (many library errors quote their source in their own message).
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}
