//! The `fluxctl` binary: [`fluxctl::run`] over the process, its error as
//! the exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match fluxctl::run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => ExitCode::from(error.exit_code()),
    }
}
