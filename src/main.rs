//! The `adaptsv` binary: parse the command line, run it, and map errors to exit codes in one place
//! (0 ok, 1 the command failed, 2 the command line was wrong — clap's own code, 75 a run was stopped and can be
//! resumed: [`adaptsv::cli::EXIT_STOPPED`]).

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

/// Vulkan drivers (Mesa's among them) print "error: XDG_RUNTIME_DIR is invalid or not set" on every instance
/// the wgpu backend creates when the variable is missing (a server, a container, `su`); it is only their
/// window-system code asking. Give them a private folder then, before any thread starts.
#[cfg(unix)]
fn quiet_vulkan_runtime_dir() {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    let dir = std::env::temp_dir().join(format!("adaptsv-runtime-{user}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    // Only a folder that is ours alone (0700): one made by another user is left alone, and so is the variable.
    let private = std::fs::metadata(&dir).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o777 == 0o700);
    if private {
        // Single-threaded here: nothing reads the environment concurrently.
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}

#[cfg(not(unix))]
fn quiet_vulkan_runtime_dir() {}

fn main() {
    keep_freed_memory();
    quiet_vulkan_runtime_dir();
    let cli = adaptsv::cli::Cli::parse();
    if let Err(e) = adaptsv::cli::run(cli) {
        if let Some(stopped) = e.downcast_ref::<adaptsv::cli::Stopped>() {
            eprintln!("{stopped}");
            std::process::exit(adaptsv::cli::EXIT_STOPPED);
        }
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
