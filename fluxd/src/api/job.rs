//! Jobs: the id `POST /v9/update-manifests` answers and what
//! `GET /v6/jobs?id=` reports (Flux's `job.ID`, `job.Status`, `job.Result`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::go::string_enum;
use super::update::{UpdateResult, UpdateSpec};

/// A job's id. fluxd makes them from 16 random bytes, written as Flux's
/// `guid.New()` writes them: `8-4-4-4-12` lower-case hex digits. Any string
/// is accepted from a peer (Flux looks ids up verbatim).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

impl JobId {
    /// The id of 16 random bytes (the caller draws them, so this module
    /// needs no random source): `%x-%x-%x-%x-%x` of bytes 0..4, 4..6,
    /// 6..8, 8..10 and 10..16.
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        let mut text = String::with_capacity(36);
        for (index, byte) in bytes.iter().enumerate() {
            if matches!(index, 4 | 6 | 8 | 10) {
                text.push('-');
            }
            const HEX: &[u8; 16] = b"0123456789abcdef";
            text.push(char::from(HEX[usize::from(byte >> 4)]));
            text.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Self(text)
    }

    /// Whether the id has the form fluxd makes (`8-4-4-4-12` hex digits).
    pub fn is_well_formed(&self) -> bool {
        let groups: Vec<&str> = self.0.split('-').collect();
        groups.len() == 5
            && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, len)| {
                group.len() == len
                    && group
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_enum! {
    /// Where a job is (`job.StatusString`).
    #[derive(Default)]
    pub enum JobState {
        #[default]
        /// Waiting in the queue.
        Queued = "queued",
        /// Running.
        Running = "running",
        /// Ended with an error (`Err`).
        Failed = "failed",
        /// Ended well.
        Succeeded = "succeeded",
    }
}

/// What a job did (`job.Result`): every field omitted when empty, so a
/// queued job's is `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobResult {
    /// The commit it pushed (a sync job: the revision to apply).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// The update it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Box<UpdateSpec>>,
    /// Per workload, what happened.
    #[serde(
        skip_serializing_if = "UpdateResult::is_empty",
        deserialize_with = "super::go::null_as_default"
    )]
    pub result: UpdateResult,
}

/// A job's status (`job.Status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobStatus {
    /// What it did so far.
    #[serde(rename = "Result")]
    pub result: JobResult,
    /// Why it failed; empty otherwise.
    #[serde(rename = "Err")]
    pub err: String,
    /// Where it is.
    #[serde(rename = "StatusString")]
    pub status_string: JobState,
}
