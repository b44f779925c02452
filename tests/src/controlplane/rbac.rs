//! The seed document's RBAC, over namespaces of a test's own.

use std::sync::Arc;

use super::{Inner, Kubeconfig, TestNamespace};
use crate::Error;

/// The fixture: the seed's tiller and flux RBAC in `rbac.authorization.k8s.io/v1`,
/// with `${DEMO}`, `${FLUX}` and `${KUBE_SYSTEM}` for the namespaces.
pub const SEED_RBAC_TEMPLATE: &str =
    include_str!("../../fixtures/controlplane/seed-rbac.yaml.tmpl");

/// [`SEED_RBAC_TEMPLATE`] with the namespaces filled in. Fails on a
/// placeholder it does not know (a typo in the fixture would otherwise
/// apply objects into a namespace literally named `${...}`).
pub fn render_seed_rbac(demo: &str, flux: &str, kube_system: &str) -> Result<String, Error> {
    render(
        SEED_RBAC_TEMPLATE,
        &[("DEMO", demo), ("FLUX", flux), ("KUBE_SYSTEM", kube_system)],
    )
}

/// Replaces `${NAME}` in `template`; unknown or unterminated placeholders are errors.
fn render(template: &str, values: &[(&str, &str)]) -> Result<String, Error> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let line = template[..template.len() - rest.len() + start]
            .matches('\n')
            .count()
            + 1;
        let end = after.find('}').ok_or_else(|| {
            Error::invalid(
                format!("seed RBAC template, line {line}"),
                "unterminated `${`",
            )
        })?;
        let name = &after[..end];
        let value = values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                Error::invalid(
                    format!("seed RBAC template, line {line}"),
                    format!("unknown placeholder `${{{name}}}`"),
                )
            })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The seed's RBAC applied over three fresh namespaces. The namespaces are
/// deleted (and with them every Role, RoleBinding and ServiceAccount of the
/// fixture) when this value is dropped.
#[derive(Debug)]
pub struct SeedRbac {
    /// Stands for `demo`: where the charts and workloads go.
    pub demo: TestNamespace,
    /// Stands for `flux`: where fluxd runs as ServiceAccount `flux`.
    pub flux: TestNamespace,
    /// Stands for `kube-system`: where tiller's ServiceAccount lives.
    pub kube_system: TestNamespace,
    inner: Arc<Inner>,
}

impl SeedRbac {
    pub(crate) async fn apply(inner: &Arc<Inner>) -> Result<Self, Error> {
        let demo = TestNamespace::create(inner, "demo").await?;
        let flux = TestNamespace::create(inner, "flux").await?;
        let kube_system = TestNamespace::create(inner, "kube-system").await?;
        let yaml = render_seed_rbac(demo.name(), flux.name(), kube_system.name())?;
        inner
            .admin()
            .apply_yaml(&yaml, "tests/fixtures/controlplane/seed-rbac.yaml.tmpl")
            .await?;
        Ok(Self {
            demo,
            flux,
            kube_system,
            inner: Arc::clone(inner),
        })
    }

    /// A kubeconfig for ServiceAccount `flux` (in [`SeedRbac::flux`]): what
    /// fluxd and its Helm operator run as in the seed.
    pub async fn flux_kubeconfig(&self) -> Result<Kubeconfig, Error> {
        self.inner
            .service_account_kubeconfig(self.flux.name(), "flux")
            .await
    }

    /// A kubeconfig for ServiceAccount `tiller` (in [`SeedRbac::kube_system`]).
    pub async fn tiller_kubeconfig(&self) -> Result<Kubeconfig, Error> {
        self.inner
            .service_account_kubeconfig(self.kube_system.name(), "tiller")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_namespace() {
        let yaml = render_seed_rbac("demo-1", "flux-2", "kube-system-3").unwrap();
        assert!(!yaml.contains("${"), "{yaml}");
        assert!(yaml.contains("namespace: demo-1"));
        assert!(yaml.contains("namespace: flux-2"));
        assert!(yaml.contains("namespace: kube-system-3"));
        assert!(!yaml.contains("apiVersion: rbac.authorization.k8s.io/v1beta1"));
        let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(&yaml).unwrap();
        assert_eq!(documents.len(), 14);
    }

    #[test]
    fn unknown_placeholder_names_its_line() {
        let err = render("a: 1\nb: ${NOPE}\n", &[("DEMO", "x")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("${NOPE}"), "{text}");
    }

    #[test]
    fn unterminated_placeholder_is_an_error() {
        let err = render("a: ${DEMO", &[("DEMO", "x")]).unwrap_err();
        assert!(err.to_string().contains("unterminated"), "{err}");
    }
}
