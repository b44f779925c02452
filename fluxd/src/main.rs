//! The `fluxd` binary: parses the command line and runs the library.

fn main() -> std::process::ExitCode {
    fluxd::run_cli()
}
