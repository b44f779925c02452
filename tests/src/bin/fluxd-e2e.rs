//! fluxd for the end-to-end tests: the same entry point as the `fluxd` binary.

fn main() -> std::process::ExitCode {
    fluxd::run_cli()
}
