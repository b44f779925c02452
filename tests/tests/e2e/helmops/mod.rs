//! The Helm operator (`helmops`) with the real helm, against real servers.

// Helpers shared by the tests fail the test when their set-up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chartrepo;
mod crash;
mod faults;
mod git;
mod helm;
mod hostile;
mod operator;
mod recovery;
mod support;
mod v1;
