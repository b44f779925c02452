//! Entry points into the daemon's internals for the workspace's own tests,
//! benchmarks and fuzz targets, hidden from the docs: the HTTP API's parts,
//! the commit path, the deploy key, image automation. Not a stable API:
//! anything here may change or go in any release.

pub use crate::automation::Automation;
pub use crate::automation::live::LiveWorkloads;
pub use crate::health::{DEFAULT_STUCK_AFTER, Health};
pub use crate::http::{Api, ClusterView, GitView, WorkloadsConfig};
pub use crate::identity::{DeployKey, KeySource};
pub use crate::jobs::intention::Intention;
pub use crate::jobs::{CommitFailure, CommitJob, CommitPath, Committed, WriteAccess};
pub use crate::metrics::Metrics;
