//! Generated manifests for edit tests and the edit benchmark: Deployments
//! with several containers, HelmReleases in every values shape, Services and
//! ConfigMaps, spread over single- and multi-document files, with comments
//! and every quoting style. Deterministic: the same seed gives the same files.

use manifests::ResourceId;

/// One file of the corpus.
pub(crate) struct CorpusFile {
    pub(crate) name: String,
    pub(crate) text: String,
    /// Containers that an image edit can target.
    pub(crate) targets: Vec<EditTarget>,
}

/// A container in a file, with the repository and tag it names now.
pub(crate) struct EditTarget {
    pub(crate) document: usize,
    pub(crate) id: ResourceId,
    pub(crate) container: String,
    pub(crate) repository: String,
    pub(crate) tag: String,
}

/// A small deterministic generator (64-bit LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn quote(style: u64, value: &str) -> String {
    match style % 3 {
        0 => value.to_owned(),
        1 => format!("'{value}'"),
        _ => format!("\"{value}\""),
    }
}

fn deployment(rng: &mut Rng, n: usize, document: usize, targets: &mut Vec<EditTarget>) -> String {
    let name = format!("app-{n}");
    let id = ResourceId::namespaced("demo", "Deployment", &name);
    let mut out = format!(
        "# Deployment {n}: generated\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name} # the name\n  namespace: demo\n  labels:\n    app: {name}\n"
    );
    if rng.below(2) == 0 {
        out.push_str("  annotations:\n    fluxcd.io/automated: \"true\"\n    fluxcd.io/tag.c0: semver:~1.0\n");
    }
    out.push_str(&format!(
        "spec:\n  replicas: {}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n",
        1 + rng.below(3)
    ));
    if rng.below(3) == 0 {
        let repository = format!("registry.example.com/init/job-{n}");
        let tag = format!("1.0.{}", rng.below(9));
        out.push_str(&format!(
            "      initContainers:\n      - name: init\n        image: {}\n",
            quote(rng.next(), &format!("{repository}:{tag}"))
        ));
        targets.push(EditTarget {
            document,
            id: id.clone(),
            container: "init".to_owned(),
            repository,
            tag,
        });
    }
    out.push_str("      containers:\n");
    for c in 0..2 + rng.below(4) {
        let repository = format!("quay.io/org{}/service-{c}", n % 7);
        let tag = format!("1.{}.{}", rng.below(20), rng.below(20));
        out.push_str(&format!(
            "      # container {c}\n      - name: c{c}\n        image: {}   # managed\n        ports:\n        - containerPort: {}\n        env:\n        - name: MODE\n          value: 'fast'\n        resources: {{limits: {{cpu: 100m, memory: 64Mi}}}}\n",
            quote(rng.next(), &format!("{repository}:{tag}")),
            8000 + c
        ));
        targets.push(EditTarget {
            document,
            id: id.clone(),
            container: format!("c{c}"),
            repository,
            tag,
        });
    }
    out
}

fn helm_release(rng: &mut Rng, n: usize, document: usize, targets: &mut Vec<EditTarget>) -> String {
    let name = format!("release-{n}");
    let id = ResourceId::namespaced("demo", "HelmRelease", &name);
    let mut target = |container: &str, repository: &str, tag: &str| {
        targets.push(EditTarget {
            document,
            id: id.clone(),
            container: container.to_owned(),
            repository: repository.to_owned(),
            tag: tag.to_owned(),
        });
    };
    let t = |rng: &mut Rng| format!("2.{}.{}", rng.below(30), rng.below(30));
    let mut out = format!(
        "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: {name}\n  namespace: demo\n  annotations:\n    fluxcd.io/automated: 'true'\n    repository.fluxcd.io/mapped: mapped.image.repo\n    tag.fluxcd.io/mapped: mapped.image.version\nspec:\n  releaseName: {name}\n  chart:\n    repository: https://charts.example.com/\n    name: app\n    version: 1.2.3\n  values:\n    # chart image\n"
    );
    let tag = t(rng);
    out.push_str(&format!("    image: org/chart-{n}:{tag}\n"));
    target("chart-image", &format!("org/chart-{n}"), &tag);
    let tag = t(rng);
    out.push_str(&format!(
        "    split:\n      image: org/split\n      tag: {}  # tag only\n",
        quote(rng.next(), &tag)
    ));
    target("split", "org/split", &tag);
    let tag = t(rng);
    out.push_str(&format!(
        "    three:\n      registry: registry.example.com:5000\n      image: team/three\n      tag: {}\n",
        quote(rng.next(), &tag)
    ));
    target("three", "registry.example.com:5000/team/three", &tag);
    let tag = t(rng);
    out.push_str(&format!(
        "    nested:\n      image:\n        repository: org/nested\n        tag: {}\n",
        quote(rng.next(), &tag)
    ));
    target("nested", "org/nested", &tag);
    let tag = t(rng);
    out.push_str(&format!(
        "    nestedRegistry:\n      image:\n        registry: docker.io\n        repository: bitnami/redis\n        tag: {}\n",
        quote(rng.next(), &tag)
    ));
    target("nestedRegistry", "docker.io/bitnami/redis", &tag);
    let tag = t(rng);
    out.push_str(&format!(
        "    mapped:\n      image:\n        repo: org/mapped\n        version: {}\n    replicas: 2\n",
        quote(1 + rng.next() % 2, &tag)
    ));
    target("mapped", "org/mapped", &tag);
    out
}

fn filler(rng: &mut Rng, n: usize) -> String {
    if rng.below(2) == 0 {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{n}\n  namespace: demo\nspec:\n  selector: {{app: app-{n}}}\n  ports:\n  - port: 80\n    targetPort: 8000\n"
        )
    } else {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{n}\ndata:\n  settings.yaml: |\n    level: info\n    retries: 3\n  mode: \"fast\"\n"
        )
    }
}

/// `files` files of one to five documents each.
pub(crate) fn generate(files: usize, seed: u64) -> Vec<CorpusFile> {
    let mut rng = Rng(seed);
    let mut n = 0;
    (0..files)
        .map(|f| {
            let documents = 1 + rng.below(5) as usize;
            let mut targets = Vec::new();
            let mut parts = Vec::new();
            for document in 0..documents {
                n += 1;
                parts.push(match rng.below(4) {
                    0 | 1 => deployment(&mut rng, n, document, &mut targets),
                    2 => helm_release(&mut rng, n, document, &mut targets),
                    _ => filler(&mut rng, n),
                });
            }
            CorpusFile {
                name: format!("generated/file-{f}.yaml"),
                text: parts.join("---\n"),
                targets,
            }
        })
        .collect()
}
