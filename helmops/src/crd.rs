//! The CRDs of the HelmRelease kinds, as YAML a cluster admin applies.
//!
//! The operator never creates CRDs itself (the seed's RBAC does not allow it);
//! `deploy/crds/` holds the output of [`render_all`], and a test fails when
//! the checked-in files drift from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::Error;
use crate::api::{v1, v1alpha2, v1beta1};

/// Every CRD this crate defines, with the file name it is kept under.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        (
            "helmreleases.flux.weave.works.yaml",
            v1beta1::HelmRelease::crd(),
        ),
        ("helmreleases.helm.fluxcd.io.yaml", v1::HelmRelease::crd()),
        (
            "fluxhelmreleases.helm.integrations.flux.weave.works.yaml",
            v1alpha2::FluxHelmRelease::crd(),
        ),
    ]
}

/// Renders one CRD as a YAML document.
pub fn render(crd: &CustomResourceDefinition) -> Result<String, Error> {
    let yaml = serde_saphyr::to_string(crd).map_err(|e| Error::Startup {
        reason: format!("rendering CRD {:?}: {e}", crd.metadata.name),
    })?;
    Ok(format!(
        "# Generated from the Rust types of the helmops crate; do not edit by hand.\n\
         # Regenerate with: HELMOPS_WRITE_CRDS=1 cargo test -p helmops crd\n{yaml}"
    ))
}

/// Every CRD rendered, as `(file name, YAML)`.
pub fn render_all() -> Result<Vec<(&'static str, String)>, Error> {
    all()
        .into_iter()
        .map(|(file, crd)| Ok((file, render(&crd)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn crds_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("deploy")
            .join("crds")
    }

    /// Fails when `deploy/crds/` differs from the types; with
    /// `HELMOPS_WRITE_CRDS=1` it rewrites the files instead.
    #[test]
    fn crd_files_match_the_types() {
        let dir = crds_dir();
        let write = std::env::var_os("HELMOPS_WRITE_CRDS").is_some();
        for (file, yaml) in render_all().unwrap() {
            let path = dir.join(file);
            if write {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &yaml).unwrap();
                continue;
            }
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                on_disk == yaml,
                "{} drifted from the Rust types; regenerate with HELMOPS_WRITE_CRDS=1 cargo test -p helmops crd",
                path.display()
            );
        }
    }

    #[test]
    fn seed_validation_is_kept() {
        let crd = serde_json::to_value(v1beta1::HelmRelease::crd()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let required = spec["required"].as_array().unwrap();
        assert!(required.contains(&"values".into()) && required.contains(&"chart".into()));
        assert_eq!(
            spec["properties"]["releaseName"]["pattern"],
            "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
        );
        assert_eq!(
            spec["properties"]["values"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        let shapes = spec["properties"]["chart"]["oneOf"].as_array().unwrap();
        assert_eq!(shapes.len(), 2);
        assert_eq!(
            crd["spec"]["versions"][0]["subresources"]["status"],
            serde_json::json!({})
        );
    }
}
