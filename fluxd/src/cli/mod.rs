//! The command line: flags with Flux v1's names, Go durations, and the
//! [`Config`] they resolve into.

pub(crate) mod config;
pub(crate) mod duration;
pub(crate) mod flags;

pub use config::{Config, DeployKeyConfig, GcMode, GitWriteConfig, MarkerConfig, Mode, SigningKey};
pub use duration::{GoDuration, parse_go_duration};
pub use flags::{Flags, LogFormat, MAX_FLAG_DURATION, SyncState, VerifySignaturesMode};
