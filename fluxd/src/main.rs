//! The `fluxd` binary: parses the command line and runs the library.

/// mimalloc hands freed memory back to the system soon after a sync; glibc's
/// allocator kept it resident (see the dependency in Cargo.toml).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    fluxd::run_cli()
}
