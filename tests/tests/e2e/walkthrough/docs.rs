//! The documents the walkthrough's readers follow stay true: the
//! configuration reference `docs/flags.md` is fluxd's own `--help` (and
//! `fluxd helm-operator --help`), regenerated with
//! `FLUXD_WRITE_DOCS=1 cargo test -p tests --test e2e walkthrough::docs`;
//! the chart's values table names every key of `values.yaml`.

use clap::CommandFactory as _;

/// `docs/flags.md` as fluxd's flags define it now.
fn flags_page() -> String {
    let mut command = fluxd::Flags::command();
    command.build();
    let daemon = command.render_long_help().to_string();
    let operator = command
        .find_subcommand_mut("helm-operator")
        .unwrap()
        .render_long_help()
        .to_string();
    let trim = |text: &str| {
        text.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned()
    };
    format!(
        "# Configuration reference\n\n\
         Generated from fluxd's own `--help`; do not edit by hand. Regenerate with\n\
         `FLUXD_WRITE_DOCS=1 cargo test -p tests --test e2e walkthrough::docs`.\n\
         Flags keep Flux v1's names and meanings; the sections at the end list the\n\
         Flux v1 flags accepted and not acted on yet, ignored, or refused.\n\
         Durations are written as Go writes them (`5m`, `10s`, `1h30m`); booleans\n\
         as `--flag`, `--flag=true` or `--flag=false`.\n\n\
         The chart's values and the arguments they become are in [chart.md](chart.md).\n\n\
         ## `fluxd`\n\n```text\n{}\n```\n\n\
         ## `fluxd helm-operator`\n\n```text\n{}\n```\n",
        trim(&daemon),
        trim(&operator)
    )
}

#[test]
fn docs_flags_md_is_fluxds_help() {
    let path = tests::tools::workspace_root().join("docs/flags.md");
    let page = flags_page();
    if std::env::var_os("FLUXD_WRITE_DOCS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == page,
        "docs/flags.md is not fluxd's --help any more; regenerate it with \
         FLUXD_WRITE_DOCS=1 cargo test -p tests --test e2e walkthrough::docs"
    );
}

/// Every leaf key of the chart's values.yaml (`a.b.c`).
fn leaf_keys(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaf_keys(&path, child, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

#[test]
fn docs_chart_md_names_every_value() {
    let root = tests::tools::workspace_root();
    let values: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root.join("deploy/chart/flux/values.yaml")).unwrap(),
    )
    .unwrap();
    let page = std::fs::read_to_string(root.join("docs/chart.md")).unwrap();
    let mut keys = Vec::new();
    leaf_keys("", &values, &mut keys);
    // A key is named when the page names it or one of its ancestors
    // (`resources`), or a line names its parent and its last part
    // (`git.user` / `git.email`); `helmOperator.*` has a table of its own.
    let named = |path: &str| {
        ["`", "/", ".*`"]
            .iter()
            .any(|end| page.contains(&format!("`{path}{end}")))
    };
    let missing: Vec<&String> = keys
        .iter()
        .filter(|key| {
            let short = key.strip_prefix("helmOperator.").unwrap_or(key);
            let parts: Vec<&str> = short.split('.').collect();
            let by_ancestor = (1..=parts.len()).any(|n| named(&parts[..n].join(".")));
            let by_line = parts.len() > 1 && {
                let parent = parts[..parts.len() - 1].join(".");
                let last = parts[parts.len() - 1];
                page.lines()
                    .any(|line| line.contains(&format!("`{parent}.")) && line.contains(last))
            };
            !(by_ancestor || by_line)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/chart.md does not name {missing:?}"
    );
}
