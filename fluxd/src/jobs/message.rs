//! Commit messages: handlebars templates, Flux v1's messages by default.
//!
//! Each kind of job renders its message from a template and a JSON context
//! the job fills in; the defaults write exactly what Flux wrote:
//!
//! | kind | context | default |
//! |---|---|---|
//! | [`MessageKind::Release`] | `image`, `workloads` (strings, `<`/`>` trimmed) | `Release {{image}} to {{workloads}}` |
//! | [`MessageKind::AutoRelease`] | `images` (list) | `Auto-release <image>`, or `Auto-release multiple (N) images` and a list |
//! | [`MessageKind::Containers`] | `workloads`: list of `{id, targets}` | `Update image refs in <ids>` and per workload its new images |
//! | [`MessageKind::Policy`] | `lines` (one per change), `message` (the user's, optional) | the one line, or `Updated workload policies` and a list |
//!
//! Templates render without HTML escaping (these are commit messages).

use handlebars::Handlebars;
use serde_json::{Value, json};

use crate::Error;

/// The jobs that write commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub(crate) enum MessageKind {
    /// `fluxctl release`.
    Release,
    /// Image automation.
    AutoRelease,
    /// A release of chosen containers (`fluxctl release --interactive`).
    Containers,
    /// Policy changes (`fluxctl automate`, `lock`, `policy`, ...).
    Policy,
}

impl MessageKind {
    const ALL: [Self; 4] = [
        Self::Release,
        Self::AutoRelease,
        Self::Containers,
        Self::Policy,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::AutoRelease => "auto-release",
            Self::Containers => "containers",
            Self::Policy => "policy",
        }
    }

    /// Flux's message, as a template.
    pub(crate) fn default_template(self) -> &'static str {
        match self {
            Self::Release => "Release {{image}} to {{workloads}}",
            Self::AutoRelease => {
                "{{#if (eq (len images) 1)}}Auto-release {{images.[0]}}{{else}}Auto-release multiple ({{len images}}) images\n\n{{#each images}} - {{this}}\n{{/each}}{{/if}}"
            }
            Self::Containers => {
                "Update image refs in {{#each workloads}}{{#if @index}}, {{/if}}{{id}}{{/each}}\n{{#each workloads}}\n\n{{id}}\n{{#each targets}}- {{this}}\n{{/each}}{{/each}}"
            }
            Self::Policy => {
                "{{#if message}}{{message}}\n\n{{#each lines}}- {{this}}\n{{/each}}{{else}}{{#if (eq (len lines) 1)}}{{lines.[0]}}\n{{else}}Updated workload policies\n\n{{#each lines}}- {{this}}\n{{/each}}{{/if}}{{/if}}"
            }
        }
    }
}

/// The commit message templates of every kind of job.
#[derive(Debug, Clone)]
pub(crate) struct CommitMessages {
    registry: Handlebars<'static>,
}

impl Default for CommitMessages {
    fn default() -> Self {
        let mut registry = Handlebars::new();
        registry.register_escape_fn(handlebars::no_escape);
        for kind in MessageKind::ALL {
            // The defaults are constants and known to compile (tested).
            let _ = registry.register_template_string(kind.name(), kind.default_template());
        }
        Self { registry }
    }
}

impl CommitMessages {
    /// Replaces the template of `kind`; a template that does not compile is
    /// refused, naming the kind.
    #[cfg(test)]
    pub(crate) fn with_template(
        mut self,
        kind: MessageKind,
        template: &str,
    ) -> Result<Self, Error> {
        self.registry
            .register_template_string(kind.name(), template)
            .map_err(|e| Error::Template {
                kind: kind.name(),
                reason: e.to_string(),
            })?;
        Ok(self)
    }

    /// Renders the message of `kind` from `context`.
    pub(crate) fn render(&self, kind: MessageKind, context: &Value) -> Result<String, Error> {
        self.registry
            .render(kind.name(), context)
            .map_err(|e| Error::Template {
                kind: kind.name(),
                reason: e.to_string(),
            })
    }

    /// The context of a release message, from the image spec and workload
    /// specs as fluxctl sends them (`<all latest>`, `<all>` lose their `<>`).
    pub(crate) fn release_context(image: &str, workloads: &[String]) -> Value {
        json!({
            "image": image.trim_matches(['<', '>']),
            "workloads": workloads.join(", ").trim_matches(['<', '>']),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_write_fluxs_messages() {
        let messages = CommitMessages::default();
        let release = |image: &str, workloads: &[&str]| {
            let workloads: Vec<String> = workloads.iter().map(|s| (*s).to_owned()).collect();
            messages
                .render(
                    MessageKind::Release,
                    &CommitMessages::release_context(image, &workloads),
                )
                .unwrap()
        };
        assert_eq!(
            release("quay.io/x/y:1.2", &["default:deployment/foo"]),
            "Release quay.io/x/y:1.2 to default:deployment/foo"
        );
        assert_eq!(
            release("<all latest>", &["<all>"]),
            "Release all latest to all"
        );
        assert_eq!(
            messages
                .render(MessageKind::AutoRelease, &json!({"images": ["a/b:2"]}))
                .unwrap(),
            "Auto-release a/b:2"
        );
        assert_eq!(
            messages
                .render(
                    MessageKind::AutoRelease,
                    &json!({"images": ["a/b:2", "c/d:3"]})
                )
                .unwrap(),
            "Auto-release multiple (2) images\n\n - a/b:2\n - c/d:3\n"
        );
        assert_eq!(
            messages
                .render(
                    MessageKind::Policy,
                    &json!({"lines": ["Automated: demo:deployment/web"]})
                )
                .unwrap(),
            "Automated: demo:deployment/web\n"
        );
        assert_eq!(
            messages
                .render(
                    MessageKind::Policy,
                    &json!({"lines": ["Locked: a", "Automated: b"]})
                )
                .unwrap(),
            "Updated workload policies\n\n- Locked: a\n- Automated: b\n"
        );
        assert_eq!(
            messages
                .render(
                    MessageKind::Policy,
                    &json!({"lines": ["Locked: a"], "message": "because <reasons>"})
                )
                .unwrap(),
            "because <reasons>\n\n- Locked: a\n"
        );
        assert_eq!(
            messages
                .render(
                    MessageKind::Containers,
                    &json!({"workloads": [{"id": "a", "targets": ["x:1"]}, {"id": "b", "targets": ["y:2"]}]})
                )
                .unwrap(),
            "Update image refs in a, b\n\na\n- x:1\n\nb\n- y:2\n"
        );
    }

    #[test]
    fn a_template_that_does_not_compile_names_its_kind() {
        let error = CommitMessages::default()
            .with_template(MessageKind::Release, "Release {{#if}}")
            .unwrap_err();
        assert!(error.to_string().contains("release"), "{error}");
        let custom = CommitMessages::default()
            .with_template(MessageKind::Release, "chore: {{image}}")
            .unwrap();
        assert_eq!(
            custom
                .render(MessageKind::Release, &json!({"image": "a:1"}))
                .unwrap(),
            "chore: a:1"
        );
    }
}
