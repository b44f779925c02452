//! The command line: flags with Flux v1's names, Go durations, what fluxd
//! does with each Flux v1 flag ([`compat`]), and the [`Config`] they resolve
//! into.

pub mod compat;
pub(crate) mod config;
pub(crate) mod flags;
pub(crate) mod helm_operator;

pub use crate::api::{GoDuration, parse_go_duration};
pub use config::{
    ApiConfig, Config, DeployKeyConfig, GcMode, GitWriteConfig, MarkerConfig, Mode, SigningKey,
};
pub use flags::{Command, Flags, LogFormat, MAX_FLAG_DURATION, SyncState, VerifySignaturesMode};
pub use helm_operator::{HelmOperatorFlags, OperatorTuning, TillerFlags};
