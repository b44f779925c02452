//! Secrets a test plants (passwords, tokens) and the check that none of
//! them ever shows in a line fluxd writes.
//!
//! A test registers each secret it hands fluxd with [`plant`]. From then on
//! every fluxd process this test binary runs is checked: a one-shot run's
//! stdout and stderr when it ends ([`crate::fluxd::FluxdCommand::run`]),
//! and a daemon's log when it is dropped or asked
//! ([`crate::fluxd::Daemon::check_no_planted_secrets`]). Planted secrets are
//! process-wide, so the tests that run beside the planting one are checked
//! for them too.

use std::sync::{Mutex, PoisonError};

use crate::Error;

static PLANTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Registers `secret` as planted and returns it. Secrets shorter than 8
/// characters are refused: they would match by chance.
pub fn plant(secret: &str) -> String {
    assert!(
        secret.len() >= 8,
        "a planted secret needs at least 8 characters"
    );
    let mut planted = PLANTED.lock().unwrap_or_else(PoisonError::into_inner);
    if !planted.iter().any(|s| s == secret) {
        planted.push(secret.to_owned());
    }
    secret.to_owned()
}

/// Every secret planted so far.
pub fn planted() -> Vec<String> {
    PLANTED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The lines of `text` that hold a planted secret, as `line N: <line>`.
pub fn leaks(text: &str) -> Vec<String> {
    let planted = planted();
    if planted.is_empty() {
        return Vec::new();
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| planted.iter().any(|secret| line.contains(secret.as_str())))
        .map(|(index, line)| format!("line {}: {line}", index + 1))
        .collect()
}

/// Fails naming `what` and the lines of `text` that leak a planted secret.
pub fn check(what: &str, text: &str) -> Result<(), Error> {
    let leaks = leaks(text);
    if leaks.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(
        what,
        format!(
            "{} line(s) hold a planted secret:\n{}",
            leaks.len(),
            leaks.join("\n")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_a_planted_secret_are_named() {
        let secret = plant("planted-unit-secret-0001");
        let text = format!("ok\nurl=https://x:{secret}@h/r\nfine\n");
        assert_eq!(
            leaks(&text),
            [format!("line 2: url=https://x:{secret}@h/r")]
        );
        assert!(check("fluxd", "nothing here\n").is_ok());
        assert!(
            check("fluxd", &text)
                .unwrap_err()
                .to_string()
                .contains("line 2")
        );
    }
}
