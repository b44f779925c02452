//! Helm fixtures: charts written to disk, packaged with the real helm, and
//! served by a chart repository on 127.0.0.1 (optionally behind basic auth).

pub mod charts;
pub mod operator;
pub mod repo;

pub use charts::{
    add_crd, add_deployment, add_test_hook, configmap_chart, package_into_repo, umbrella_chart,
};
pub use repo::ChartRepository;
