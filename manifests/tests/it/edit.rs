//! Golden files for format-preserving edits.
//!
//! Each directory under `tests/.fixtures/edit/` holds `input.yaml`,
//! `edit.yaml` (which document, which resource, which edit) and either
//! `expected.yaml` (the edited file, byte-for-byte) or `refused.txt` (lines
//! the refusal message must contain). `UPDATE_GOLDEN=1` writes missing
//! expectations for review.

use std::fs;
use std::path::{Path, PathBuf};

use manifests::edit::{self, Edit};
use manifests::{Policy, ResourceId, SourceLocation};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.fixtures/edit")
}

fn text(spec: &Value, field: &str) -> String {
    spec[field]
        .as_str()
        .unwrap_or_else(|| panic!("edit.yaml: {field} missing"))
        .to_owned()
}

fn policy(spec: &Value) -> Policy {
    Policy::from_name(&text(spec, "policy")).unwrap()
}

fn parse_edit(spec: &Value) -> Edit {
    if let Some(s) = spec.get("set_image") {
        Edit::SetImage {
            container: text(s, "container"),
            image: text(s, "image"),
        }
    } else if let Some(s) = spec.get("set_policy") {
        Edit::SetPolicy {
            policy: policy(s),
            value: text(s, "value"),
        }
    } else if let Some(s) = spec.get("remove_policy") {
        Edit::RemovePolicy { policy: policy(s) }
    } else if let Some(s) = spec.get("set_annotation") {
        Edit::SetAnnotation {
            key: text(s, "key"),
            value: text(s, "value"),
        }
    } else if let Some(s) = spec.get("remove_annotation") {
        Edit::RemoveAnnotation {
            key: text(s, "key"),
        }
    } else {
        panic!("edit.yaml names no edit: {spec}")
    }
}

/// Lines that differ once the common leading and trailing lines are set aside.
fn changed_lines(before: &str, after: &str) -> (usize, usize) {
    let a: Vec<&str> = before.split_inclusive('\n').collect();
    let b: Vec<&str> = after.split_inclusive('\n').collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (a.len() - prefix - suffix, b.len() - prefix - suffix)
}

fn run_case(dir: &Path, update: bool) -> Result<(), String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let input = fs::read_to_string(dir.join("input.yaml")).unwrap();
    let spec: Value = serde_saphyr::from_str(&fs::read_to_string(dir.join("edit.yaml")).unwrap())
        .map_err(|e| format!("{name}: edit.yaml: {e}"))?;
    let id: ResourceId = text(&spec, "id").parse().unwrap();
    let source = SourceLocation {
        path: PathBuf::from(format!("{name}/input.yaml")),
        document: usize::try_from(spec["document"].as_u64().unwrap()).unwrap(),
        line: 1,
    };
    let result = edit::apply(&input, &source, &id, &parse_edit(&spec));
    let expected = dir.join("expected.yaml");
    let refused = dir.join("refused.txt");
    match (expected.exists(), refused.exists(), result) {
        (true, _, Ok(output)) => {
            let want = fs::read_to_string(&expected).unwrap();
            if output != want {
                return Err(format!(
                    "{name}: output differs:\n{output}\n--- expected:\n{want}"
                ));
            }
            let (removed, added) = changed_lines(&input, &output);
            if removed > 3 || added > 3 {
                return Err(format!("{name}: {removed} lines out, {added} lines in"));
            }
            Ok(())
        }
        (_, true, Err(err)) => {
            let message = err.to_string();
            let want = fs::read_to_string(&refused).unwrap();
            for line in want.lines().filter(|l| !l.trim().is_empty()) {
                if !message.contains(line) {
                    return Err(format!("{name}: refusal {message:?} lacks {line:?}"));
                }
            }
            Ok(())
        }
        (false, false, result) if update => {
            match result {
                Ok(output) => fs::write(expected, output).unwrap(),
                Err(err) => fs::write(refused, format!("{err}\n")).unwrap(),
            }
            Ok(())
        }
        (_, _, Ok(output)) => Err(format!("{name}: expected a refusal, got:\n{output}")),
        (_, _, Err(err)) => Err(format!("{name}: unexpected refusal: {err}")),
    }
}

#[test]
fn golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut dirs: Vec<PathBuf> = fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 40, "only {} cases", dirs.len());
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|dir| run_case(dir, update).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn edits_compose_and_round_trip() {
    let input = fs::read_to_string(fixtures().join("deployment-container/input.yaml")).unwrap();
    let source = SourceLocation {
        path: "web.yaml".into(),
        document: 0,
        line: 1,
    };
    let id: ResourceId = "demo:deployment/web".parse().unwrap();
    let tag = Policy::Tag("web".to_owned());
    let step1 = edit::set_policy(&input, &source, &id, &Policy::Automated, "true").unwrap();
    let step2 = edit::set_policy(&step1, &source, &id, &tag, "glob:1.*").unwrap();
    let step3 = edit::set_image(&step2, &source, &id, "web", "nginx:1.27.0").unwrap();
    let step4 = edit::set_image(&step3, &source, &id, "web", "nginx:1.25.3").unwrap();
    let step5 = edit::remove_policy(&step4, &source, &id, &tag).unwrap();
    let back = edit::remove_policy(&step5, &source, &id, &Policy::Automated).unwrap();
    assert_eq!(back, input);
    // Setting what is already there changes nothing.
    assert_eq!(
        edit::set_image(&input, &source, &id, "web", "nginx:1.25.3").unwrap(),
        input
    );
}

/// A document whose aliases expand to 10^9 strings.
fn billion_laughs() -> String {
    let mut text = String::from(
        "kind: Deployment\nmetadata: {name: web}\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text.push_str("spec: {template: {spec: {containers: [{name: web, image: nginx}]}}}\n");
    text
}

#[test]
fn bad_input_is_refused_not_panicked_on() {
    let source = SourceLocation {
        path: "bad.yaml".into(),
        document: 0,
        line: 1,
    };
    let id: ResourceId = "demo:deployment/web".parse().unwrap();
    let image = Edit::SetImage {
        container: "web".into(),
        image: "nginx:2".into(),
    };
    for bad in [
        "",
        "key: [unclosed",
        "\tkind: Deployment",
        "kind: Deployment\nmetadata: {name: web}\nmetadata: {name: web}\n",
        "- a\n- b\n",
        "just a string",
        "kind: Deployment\nmetadata: web\n",
        "kind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: 5}}}\n",
        &format!(
            "kind: Deployment\nmetadata: {{name: web}}\nspec: {}{}\n",
            "[".repeat(5000),
            "]".repeat(5000)
        ),
        &format!(
            "kind: Deployment\nmetadata: {{name: web}}\nspec:\n{}",
            (0..2000)
                .map(|i| format!("{}- x\n", " ".repeat(i)))
                .collect::<String>()
        ),
        &billion_laughs(),
    ] {
        let err = edit::apply(bad, &source, &id, &image)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.yaml"), "{bad:?}: {err}");
    }
    let set = Edit::SetPolicy {
        policy: Policy::Automated,
        value: "true".into(),
    };
    let err = edit::apply("kind: Deployment\nmetadata: web\n", &source, &id, &set)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.yaml"), "{err}");
}

/// A thousand image edits over generated files: each changes exactly one
/// line, and that line differs from the original only in the tag.
#[test]
fn thousand_generated_edits_change_only_the_intended_line() {
    let corpus = crate::corpus::generate(300, 7);
    let targets: Vec<(&crate::corpus::CorpusFile, &crate::corpus::EditTarget)> = corpus
        .iter()
        .flat_map(|file| file.targets.iter().map(move |t| (file, t)))
        .take(1000)
        .collect();
    assert_eq!(targets.len(), 1000);
    for (i, (file, target)) in targets.into_iter().enumerate() {
        let source = SourceLocation {
            path: file.name.clone().into(),
            document: target.document,
            line: 1,
        };
        let new_tag = format!("9.{i}.0");
        let image = format!("{}:{new_tag}", target.repository);
        let context = format!("{} {} {}", file.name, target.id, target.container);
        let output = edit::set_image(&file.text, &source, &target.id, &target.container, &image)
            .unwrap_or_else(|err| panic!("{context}: {err}"));
        let before: Vec<&str> = file.text.split_inclusive('\n').collect();
        let after: Vec<&str> = output.split_inclusive('\n').collect();
        assert_eq!(before.len(), after.len(), "{context}");
        let changed: Vec<(&str, &str)> = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| (*a, *b))
            .collect();
        assert_eq!(changed.len(), 1, "{context}: {changed:?}");
        let (old_line, new_line) = changed[0];
        assert_eq!(
            old_line.replacen(&target.tag, &new_tag, 1),
            new_line,
            "{context}"
        );
        // Reading the edited file back finds the new image.
        let documents: Vec<Value> = serde_saphyr::from_multiple(&output).unwrap();
        let images =
            manifests::images::container_images(&documents[target.document], &target.id).unwrap();
        let found = images.iter().find(|c| c.name == target.container).unwrap();
        assert_eq!(found.image, image, "{context}");
    }
}
