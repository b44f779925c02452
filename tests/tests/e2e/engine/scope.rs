//! The seed's setup: fluxd as ServiceAccount `flux`, allowed into `demo` and
//! `flux` only, with no cluster-wide permission at all.

use manifests::cluster::{EngineConfig, GarbageCollection, NamespaceScope, ResourceOutcome};
use tests::controlplane::ControlPlane;

use super::{config_map, deployment, engine, failure, get, load, outcome, service, set_of};

#[tokio::test]
async fn a_restricted_service_account_syncs_its_namespaces_and_reports_the_rest() {
    let cluster = ControlPlane::shared().await.unwrap();
    let seed = cluster.seed_rbac().await.unwrap();
    let elsewhere = cluster.namespace("elsewhere").await.unwrap();
    let (demo, flux, system) = (seed.demo.name(), seed.flux.name(), seed.kube_system.name());
    let files = |with_extra: bool, broken: bool| {
        let mut files = vec![
            ("demo/web.yaml", deployment(demo, "web", "nginx:1.27", 1)),
            ("demo/svc.yaml", service(demo, "web")),
            ("demo/cm.yaml", config_map(demo, "settings", "a=1")),
            ("flux/cm.yaml", config_map(flux, "flux-settings", "b=2")),
            // Refused: other namespaces. Skipped: cluster-scoped kinds.
            ("system/cm.yaml", config_map(system, "tiller-settings", "c=3")),
            ("elsewhere/cm.yaml", config_map(elsewhere.name(), "stray", "d=4")),
            (
                "cluster/ns.yaml",
                format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {demo}\n"),
            ),
            (
                "cluster/role.yaml",
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: e2e-engine-reader\nrules: []\n"
                    .to_owned(),
            ),
        ];
        if with_extra {
            files.push(("demo/extra.yaml", config_map(demo, "extra", "e=5")));
        }
        if broken {
            files.push((
                "demo/broken.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n".to_owned(),
            ));
        }
        files
    };
    let kubeconfig = seed.flux_kubeconfig().await.unwrap();
    let config = EngineConfig::new()
        .with_scope(NamespaceScope::Only(vec![demo.to_owned(), flux.to_owned()]))
        .with_default_namespace(flux)
        .with_gc(GarbageCollection::On);
    let (engine, log) = engine(kubeconfig.config(), config);

    // A YAML error in one file: the loader reports it, the rest syncs, and
    // garbage collection stays off for this incomplete set.
    let loaded = load(&files(true, true), flux);
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    assert!(loaded.errors[0].to_string().contains("demo/broken.yaml"));
    let report = engine.sync(&set_of("restricted", loaded)).await;
    for created in [
        format!("{demo}:deployment/web"),
        format!("{demo}:service/web"),
        format!("{demo}:configmap/settings"),
        format!("{demo}:configmap/extra"),
        format!("{flux}:configmap/flux-settings"),
    ] {
        assert_eq!(
            outcome(&report, &created),
            &ResourceOutcome::Created,
            "{created}"
        );
    }
    for refused in [
        format!("{system}:configmap/tiller-settings"),
        format!("{}:configmap/stray", elsewhere.name()),
    ] {
        let message = failure(outcome(&report, &refused));
        assert!(
            message.contains("not one of the allowed namespaces"),
            "{refused}: {message}"
        );
    }
    for skipped in [
        format!("<cluster>:namespace/{demo}"),
        "<cluster>:clusterrole/e2e-engine-reader".to_owned(),
    ] {
        let skipped_outcome = outcome(&report, &skipped);
        assert!(
            skipped_outcome.is_outside_scope(),
            "{skipped}: {skipped_outcome:?}"
        );
    }
    assert_eq!(report.counts().failed, 2);
    assert_eq!(report.counts().skipped, 2);
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("garbage collection skipped"))
    );
    let admin = cluster.client().unwrap();
    assert!(
        get(&admin, "v1", "ConfigMap", Some(system), "tiller-settings")
            .await
            .is_none()
    );
    assert!(
        get(
            &admin,
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            None,
            "e2e-engine-reader"
        )
        .await
        .is_none()
    );

    // Nothing changed: no write. The set is complete now and `extra` left
    // git: it is pruned, without any cluster-wide request either.
    log.clear();
    let loaded = load(&files(false, false), flux);
    let report = engine.sync(&set_of("restricted", loaded)).await;
    assert_eq!(
        outcome(&report, &format!("{demo}:configmap/extra")),
        &ResourceOutcome::Pruned
    );
    assert_eq!(
        outcome(&report, &format!("{demo}:deployment/web")),
        &ResourceOutcome::Unchanged
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let writes = log.writes();
    assert_eq!(writes.len(), 1, "only the prune: {writes:#?}");
    assert_eq!(writes[0].method, "DELETE");
    assert!(
        get(&admin, "v1", "ConfigMap", Some(demo), "extra")
            .await
            .is_none()
    );

    let wide = log.cluster_wide_lists();
    assert_eq!(wide, [], "cluster-wide lists while restricted");
    // Nor before: the log of the first sync was cleared, so check a fresh
    // engine's whole life.
    let (fresh, log) = super::engine(kubeconfig.config(), engine.config().clone());
    let report = fresh
        .sync(&set_of("restricted", load(&files(false, false), flux)))
        .await;
    assert_eq!(report.counts().failed, 2);
    assert_eq!(report.counts().skipped, 2);
    assert_eq!(log.writes(), []);
    assert_eq!(log.cluster_wide_lists(), []);
    assert!(
        log.all().iter().all(|r| r.path == "/api"
            || r.path == "/apis"
            || r.path.contains(&format!("/namespaces/{demo}/"))
            || r.path.contains(&format!("/namespaces/{flux}/"))),
        "requests outside the allowed namespaces: {:#?}",
        log.all()
    );

    // Allowed into the seed's kube-system too, where RBAC only lets flux
    // read Services: the ConfigMap there fails with the API's own message,
    // and garbage collection skips the kinds it may not list, silently.
    let config = engine
        .config()
        .clone()
        .with_scope(NamespaceScope::Only(vec![
            demo.to_owned(),
            flux.to_owned(),
            system.to_owned(),
        ]));
    let (wider, _) = super::engine(kubeconfig.config(), config);
    let report = wider
        .sync(&set_of("restricted", load(&files(false, false), flux)))
        .await;
    let denied = failure(outcome(
        &report,
        &format!("{system}:configmap/tiller-settings"),
    ));
    assert!(
        denied.contains("forbidden") && denied.contains(kubeconfig.user()),
        "{denied}"
    );
    assert_eq!(
        outcome(&report, &format!("{demo}:deployment/web")),
        &ResourceOutcome::Unchanged
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}
