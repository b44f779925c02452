//! Container-registry fixtures.
//!
//! - [`DockerRegistry`]: Debian's `docker-registry` (distribution 2.8) on a
//!   free loopback port, anonymous or with htpasswd basic auth.
//! - [`OciLayout`] and [`skopeo_copy`]: reproducible OCI layouts (gzip layers
//!   made with `tar --sort=name --mtime=@0` and `gzip -n`, configs with
//!   chosen `created` times and platforms, multi-platform indexes) pushed by
//!   the real `skopeo`.
//! - [`BulkPusher`]: plain HTTP pushes from Rust for bulk data (one layer per
//!   repository, one config and manifest per tag), where skopeo is too slow.
//! - [`RegistryFront`]: an axum server in front of a registry that adds what
//!   Debian's lacks or what a test needs to go wrong: a Docker-Hub-like token
//!   service, sorted tag paging with `n`/`last`/`Link`, 429 with
//!   Retry-After, garbage bodies, a tag deleted between list and fetch, an
//!   unknown manifest media type.

mod distribution;
mod front;
mod oci;
mod push;

pub use distribution::DockerRegistry;
pub use front::{FrontConfig, Misbehaviour, RegistryFront, TokenAuth};
pub use oci::{
    ImageSpec, OciLayout, skopeo_copy, skopeo_inspect, skopeo_list_all, skopeo_list_tags,
};
pub use push::BulkPusher;
