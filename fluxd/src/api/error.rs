//! Errors: the `{"type","help","error"}` body of Flux's API errors
//! (`fluxerr.Error`) and which status code each type answers with, the
//! errors fluxd's router and fluxctl's client give by name, and the error of
//! parsing this module's string forms.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::go::string_enum;

/// A string form that does not parse (a resource id, an image reference, a
/// workload or image spec), with Flux's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub(crate) message: String,
}

impl ParseError {
    pub(crate) fn resource_id(text: &str) -> Self {
        Self {
            message: format!("parsing {text}: invalid service ID"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

string_enum! {
    /// Whose fault an API error is (`fluxerr.Type`).
    pub enum ErrorType {
        /// Something went wrong on the server: worth trying again (500).
        Server = "server",
        /// What was asked for does not exist (404).
        Missing = "missing",
        /// Cannot happen until the user does something (422).
        User = "user",
    }
}

impl ErrorType {
    /// The status code fluxd answers an error of this type with (Flux's
    /// `ErrorResponse`; an unknown type is a server error).
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Missing => 404,
            Self::User => 422,
            Self::Server | Self::Other(_) => 500,
        }
    }
}

/// An API error as fluxd sends it when the request accepts JSON:
/// `{"type":..., "help":..., "error":...}` (`error` omitted when empty).
/// fluxctl prints `help`; `error` is the one-line message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Whose fault it is.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// A message for the user, several lines.
    #[serde(default)]
    pub help: String,
    /// The underlying error, one line.
    #[serde(rename = "error", default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

impl ApiError {
    /// The status code to answer with.
    pub fn status_code(&self) -> u16 {
        self.kind.status_code()
    }

    /// Any error without a help text of its own, as fluxd wraps it
    /// (`CoverAllError`: type `user`, so 422).
    pub fn cover_all(message: &str) -> Self {
        Self {
            kind: ErrorType::User,
            help: format!(
                "Error: {message}

We don't have a specific help message for the error above.

It would help us remedy this if you log an issue at

    https://github.com/fluxcd/flux/issues

saying what you were doing when you saw this, and quoting the message
at the top.
"
            ),
            error: message.to_owned(),
        }
    }

    /// The answer to `GET /v6/jobs?id=` for an id fluxd does not know
    /// (type `missing`, so 404; Flux's `unknownJobError`).
    pub fn unknown_job(id: &str) -> Self {
        Self {
            kind: ErrorType::Missing,
            help: "Job not found

This is often because the job did not result in committing changes,
and therefore had no lasting effect. A release dry-run is an example
of a job that does not result in a commit.

If you were expecting changes to be committed, this may mean that the
job failed, but its status was lost.

In both of the above cases it is OK to retry the operation that
resulted in this error.

If you get this error repeatedly, it's probably a bug. Please log an
issue describing what you were attempting, and posting logs from the
daemon if possible:

    https://github.com/fluxcd/flux/issues

"
            .to_owned(),
            error: format!("unknown job {id:?}"),
        }
    }

    /// The files in git do not load as manifests (type `user`, so 422;
    /// Flux's `manifestLoadError`).
    pub fn manifest_load(reason: &str) -> Self {
        Self {
            kind: ErrorType::User,
            help: format!(
                "Unable to parse files as manifests

Flux was unable to parse the files in the git repo as manifests,
giving this error:

    {reason}

Check that any files mentioned are well-formed, and resources are not
defined more than once. It's also worth reviewing

    https://fluxcd.io/legacy/flux/requirements/

to make sure you're not running into any corner cases.

If you think your files are all OK and you are still getting this
message, please log an issue at

    https://github.com/fluxcd/flux/issues

and include the problematic file, if possible.
"
            ),
            error: reason.to_owned(),
        }
    }

    /// The answer to `/v1/` .. `/v5/` (410 Gone, `ErrorDeprecated`).
    pub fn deprecated() -> Self {
        Self {
            kind: ErrorType::Missing,
            help: "The API endpoint requested appears to have been deprecated.

This indicates your client (fluxctl) needs to be updated: please see

    https://github.com/fluxcd/flux/releases

If you still have this problem after upgrading, please file an issue at

    https://github.com/fluxcd/flux/issues

mentioning what you were attempting to do.
"
            .to_owned(),
            error: "API endpoint deprecated".to_owned(),
        }
    }

    /// The answer to an unknown path (404, `MakeAPINotFound`).
    pub fn not_found(path: &str) -> Self {
        Self {
            kind: ErrorType::Missing,
            help: format!(
                "The API endpoint requested is not supported by this server.

This indicates that your client (probably fluxctl) is either out of
date, or faulty. Please see

    https://github.com/fluxcd/flux/releases

for releases of fluxctl.

If you still have problems, please file an issue at

    https://github.com/fluxcd/flux/issues

mentioning what you were attempting to do, and include this path:

    {path}
"
            ),
            error: "API endpoint not found".to_owned(),
        }
    }

    /// What fluxctl reports on a 401 (`ErrorUnauthorized`).
    pub fn unauthorized() -> Self {
        Self {
            kind: ErrorType::User,
            help: "The request failed authentication

This most likely means you have a missing or incorrect token. Please
make sure you supply a service token, either by setting the
environment variable FLUX_SERVICE_TOKEN, or using the argument --token
with fluxctl.

"
            .to_owned(),
            error: "request failed authentication".to_owned(),
        }
    }
}

/// The status code of answers to the deprecated `/v1/`..`/v5/` routes.
pub const STATUS_DEPRECATED: u16 = 410;

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)
    }
}

impl std::error::Error for ApiError {}
