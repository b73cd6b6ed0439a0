//! The `adaptsv` binary: parse the command line, run it, and map errors to exit codes in one place
//! (0 ok, 1 the command failed, 2 the command line was wrong — clap's own code).

use clap::Parser;

/// mimalloc rather than glibc's malloc: glibc maps and unmaps every block over 32 MB (most activations of a
/// training step), so the kernel zeroes their pages again on each use; mimalloc keeps and reuses them, once
/// told not to give freed memory back ([`keep_freed_memory`]). Measured in the README's Performance section.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's option enum (`mimalloc.h`; the Rust bindings lack the constant).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory stays committed for reuse (mimalloc's default purges it after 10 ms, and a training step then
/// faults every page of its activations in again: full fine-tuning measured 30 % slower than with glibc).
fn keep_freed_memory() {
    // SAFETY: setting an option is a plain store mimalloc allows at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

fn main() {
    keep_freed_memory();
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
