//! The parts of the apply engine that need no cluster: the offline plan of
//! the fixture tree (the seed's manifests among them), and the names Flux v1
//! derives.

use manifests::cluster::{
    EngineConfig, NamespaceScope, ResourceOutcome, SyncSet, gc_mark, plan_offline, rank_of_kind,
    sync_set_name,
};
use manifests::{LoadOptions, load};

fn fixture_set() -> SyncSet {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.fixtures/load");
    let loaded = load(&root, &["tree"], &LoadOptions::default());
    assert!(loaded.is_complete(), "{:?}", loaded.errors);
    SyncSet {
        name: sync_set_name(
            "ssh://git@github.com/stakater/flux-helm-test",
            "master",
            &["tree"],
        ),
        complete: true,
        resources: loaded.resources,
    }
}

#[test]
fn offline_plan_orders_like_flux_and_keeps_every_resource() {
    let set = fixture_set();
    let plan = plan_offline(&set, &EngineConfig::default());
    assert!(plan.refused.is_empty(), "{:?}", plan.refused);
    assert_eq!(plan.resources.len(), set.resources.len());
    let ranks: Vec<u8> = plan.resources.iter().map(|entry| entry.rank).collect();
    let mut sorted = ranks.clone();
    sorted.sort_unstable();
    assert_eq!(ranks, sorted, "apply order is by rank");
    for entry in &plan.resources {
        assert_eq!(entry.rank, rank_of_kind(entry.id.kind()));
        assert!(entry.source.path.starts_with("tree"), "{}", entry.source);
    }
    // CRDs before the Roles' bindings, workloads after both, custom
    // resources last.
    let position = |kind: &str| {
        plan.resources
            .iter()
            .position(|entry| entry.id.kind() == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    assert!(position("customresourcedefinition") < position("rolebinding"));
    assert!(position("rolebinding") < position("deployment"));
    assert!(position("deployment") < position("helmrelease"));
}

#[test]
fn offline_plan_reports_what_the_seeds_scope_refuses() {
    let set = fixture_set();
    let config =
        EngineConfig::new().with_scope(NamespaceScope::Only(vec!["demo".into(), "flux".into()]));
    let plan = plan_offline(&set, &config);
    assert_eq!(
        plan.resources.len() + plan.refused.len(),
        set.resources.len()
    );
    for entry in &plan.resources {
        let namespace = entry
            .id
            .namespace()
            .unwrap_or_else(|| panic!("{} is cluster-scoped", entry.id));
        assert!(namespace == "demo" || namespace == "flux", "{}", entry.id);
    }
    let refused: Vec<String> = plan.refused.iter().map(|r| r.id.to_string()).collect();
    for expected in [
        "kube-system:serviceaccount/tiller",
        "<cluster>:customresourcedefinition/helmreleases.flux.weave.works",
        "<cluster>:clusterissuer/letsencrypt",
    ] {
        assert!(
            refused.contains(&expected.to_owned()),
            "{expected} not in {refused:?}"
        );
    }
    // Another namespace's objects fail; cluster-scoped ones are skipped as
    // outside the allowed scope, which is no error.
    for result in &plan.refused {
        match (&result.outcome, result.id.namespace()) {
            (ResourceOutcome::Failed { message }, Some(_)) => assert!(
                message.contains("not one of the allowed namespaces (demo, flux)"),
                "{message}"
            ),
            (outcome @ ResourceOutcome::Skipped { reason }, None) => {
                assert!(outcome.is_outside_scope(), "{reason}");
                assert!(
                    reason.contains("only the namespaces demo, flux"),
                    "{reason}"
                );
            }
            _ => panic!("{result:?}"),
        }
        assert!(result.source.is_some());
    }
    // Allowing cluster-scoped kinds lets the CRDs and the ClusterIssuer in.
    let plan = plan_offline(&set, &config.with_allow_cluster_scoped(true));
    assert!(plan.refused.iter().all(|r| r.id.namespace().is_some()));
    // The offline plan serialises for fluxd's API and logs.
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["refused"][0]["outcome"]["type"], "failed");
    assert!(
        json["refused"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("kube-system:")
    );
}

#[test]
fn ignored_resources_are_refused_as_skipped() {
    let mut loader = manifests::Loader::new(LoadOptions::default());
    loader.add_file(
        "a.yaml".as_ref(),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n    fluxcd.io/ignore: \"true\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations:\n    fluxcd.io/ignore: sync_only\n",
    );
    let loaded = loader.finish();
    let set = SyncSet {
        name: "set".into(),
        complete: true,
        resources: loaded.resources,
    };
    let plan = plan_offline(&set, &EngineConfig::default());
    assert_eq!(plan.resources.len(), 1, "sync_only is still applied");
    assert_eq!(plan.resources[0].id.to_string(), "default:configmap/b");
    assert!(matches!(
        plan.refused[0].outcome,
        ResourceOutcome::Skipped { .. }
    ));
}

#[test]
fn marks_of_the_seed_repository() {
    // The seed's fluxd: git.url ssh://git@github.com/stakater/flux-helm-test,
    // the chart's default branch and no path.
    let none: &[&str] = &[];
    let set = sync_set_name(
        "ssh://git@github.com/stakater/flux-helm-test",
        "master",
        none,
    );
    assert_eq!(set.len(), 43);
    let mark = gc_mark(&set, &"demo:helmrelease/xposer".parse().unwrap());
    assert!(mark.starts_with("sha256.") && mark.len() == 50, "{mark}");
}
