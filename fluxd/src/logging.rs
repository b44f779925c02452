//! Log output: one event a line on stderr, as logfmt (`--log-format fmt`,
//! Flux v1's default) or JSON.
//!
//! The logfmt lines are what Flux v1's go-kit logger wrote, so the pipelines
//! built on them keep working: `ts=<RFC 3339, UTC> level=<level>`, then the
//! event's fields and those of its spans as `key=value`, then the message
//! as `msg=...`. A value is quoted, with Go's escapes, only when it must be
//! (a space, `=`, `"`, a control character; or the word `null`), exactly
//! as Go's logfmt encoder decides. The message comes last so that the first
//! quoted value of a line is its first field: the seed's
//! `grep identity.pub | cut -d '"' -f2` prints the deploy key.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::{Error, LogFormat};

/// Installs the process-wide subscriber: `filter` (a level or a filter such as
/// `fluxd=debug,kube=info`) unless `RUST_LOG` is set. Does nothing when a
/// subscriber is already installed (fluxd embedded in another program).
pub fn init_logging(format: LogFormat, filter: &str) -> Result<(), Error> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => {
            EnvFilter::try_new(&from_env).map_err(|e| Error::flag("RUST_LOG", e.to_string()))?
        }
        _ => EnvFilter::try_new(filter).map_err(|e| Error::flag("--log-level", e.to_string()))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // An error only means a subscriber is already installed.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        // `Fmt`, and whatever format comes next until it has its own arm.
        _ => builder
            .with_ansi(false)
            .fmt_fields(LogfmtFields)
            .event_format(Logfmt)
            .try_init(),
    };
    Ok(())
}

/// The logfmt event format (see the module's docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct Logfmt;

/// How span fields are kept for [`Logfmt`]: already encoded, `key=value`
/// pairs separated by spaces.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogfmtFields;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::with_capacity(256);
        push_pair(&mut line, "ts", &jiff::Timestamp::now().to_string());
        push_pair(&mut line, "level", level_name(*event.metadata().level()));
        let mut pairs = Pairs::new(&mut line);
        event.record(&mut pairs);
        let message = pairs.message.take();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    line.push(' ');
                    line.push_str(fields);
                }
            }
        }
        if let Some(message) = message {
            push_pair(&mut line, "msg", &message);
        }
        writer.write_str(&line)?;
        writer.write_char('\n')
    }
}

impl<'writer> FormatFields<'writer> for LogfmtFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut line = String::new();
        let mut pairs = Pairs::new(&mut line);
        fields.record(&mut pairs);
        if let Some(message) = pairs.message.take() {
            push_pair(&mut line, "msg", &message);
        }
        writer.write_str(&line)
    }
}

/// Go-kit's level names.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// Records fields as logfmt pairs onto a line; keeps the message aside.
struct Pairs<'a> {
    line: &'a mut String,
    message: Option<String>,
}

impl<'a> Pairs<'a> {
    fn new(line: &'a mut String) -> Self {
        Self {
            line,
            message: None,
        }
    }

    fn pair(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            push_pair(self.line, field.name(), value);
        }
    }
}

impl Visit for Pairs<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.pair(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.pair(field, &text);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.pair(field, &value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.pair(field, &value.to_string());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pair(field, if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.pair(field, &value.to_string());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.pair(field, &value.to_string());
    }
}

/// Appends ` key=value` (no space before the first pair of a line).
fn push_pair(line: &mut String, key: &str, value: &str) {
    if !line.is_empty() {
        line.push(' ');
    }
    push_key(line, key);
    line.push('=');
    push_value(line, value);
}

/// A key as logfmt allows it: characters that would end it become `_`.
fn push_key(line: &mut String, key: &str) {
    if key.is_empty() {
        line.push('_');
        return;
    }
    line.extend(key.chars().map(|c| if needs_quotes(c) { '_' } else { c }));
}

/// The characters that make Go's logfmt encoder quote a value.
fn needs_quotes(c: char) -> bool {
    c <= ' ' || c == '=' || c == '"' || c == char::REPLACEMENT_CHARACTER
}

/// A value as Go's logfmt encoder writes it: bare when it can be, else
/// quoted with `\\`, `\"`, `\n`, `\r`, `\t` and `\u00XX` escapes. An empty
/// value is nothing at all (`key=`); the word `null` is quoted, so a reader
/// never mistakes it for a missing value.
fn push_value(line: &mut String, value: &str) {
    if value == "null" {
        line.push_str("\"null\"");
        return;
    }
    if !value.chars().any(needs_quotes) {
        line.push_str(value);
        return;
    }
    line.push('"');
    for c in value.chars() {
        match c {
            '\\' => line.push_str("\\\\"),
            '"' => line.push_str("\\\""),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            char::REPLACEMENT_CHARACTER => line.push_str("\\ufffd"),
            c if c < ' ' => {
                let _ = write!(line, "\\u{:04x}", u32::from(c));
            }
            c => line.push(c),
        }
    }
    line.push('"');
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};

    use super::*;

    fn value(text: &str) -> String {
        let mut line = String::new();
        push_value(&mut line, text);
        line
    }

    #[test]
    fn values_are_quoted_as_go_logfmt_quotes_them() {
        for (raw, written) in [
            ("plain", "plain"),
            ("", ""),
            ("null", "\"null\""),
            ("two words", "\"two words\""),
            ("a=b", "\"a=b\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("back\\slash", "back\\slash"),
            ("back\\slash and space", "\"back\\\\slash and space\""),
            ("line\nbreak", "\"line\\nbreak\""),
            ("tab\there", "\"tab\\there\""),
            ("cr\r", "\"cr\\r\""),
            ("bell\u{7}", "\"bell\\u0007\""),
            ("déjà-vu", "déjà-vu"),
            ("bad\u{fffd}byte", "\"bad\\ufffdbyte\""),
            ("file:///srv/config", "file:///srv/config"),
        ] {
            assert_eq!(value(raw), written, "{raw:?}");
        }
    }

    /// A writer into a shared buffer, for a subscriber in a test.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `emit` logs, formatted as fluxd's logfmt.
    fn logged(emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(Level::DEBUG)
            .fmt_fields(LogfmtFields)
            .event_format(Logfmt)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_line_is_timestamp_level_fields_spans_then_message() {
        let text = logged(|| {
            let span = tracing::info_span!("sync", set = "47DEQpj8", resources = 3);
            let _entered = span.enter();
            tracing::info!(
                revision = %"0123abcd",
                created = 2,
                ok = true,
                paths = ?["deploy", "charts"],
                "sync finished"
            );
        });
        let line = text.lines().next().unwrap();
        let (ts, rest) = line.split_once(' ').unwrap();
        let ts = ts.strip_prefix("ts=").unwrap();
        assert!(ts.ends_with('Z'), "{ts}");
        assert!(ts.parse::<jiff::Timestamp>().is_ok(), "{ts}");
        assert_eq!(
            rest,
            "level=info revision=0123abcd created=2 ok=true paths=\"[\\\"deploy\\\", \\\"charts\\\"]\" \
             set=47DEQpj8 resources=3 msg=\"sync finished\""
        );
    }

    #[test]
    fn levels_and_errors() {
        let error = std::io::Error::other("disk full");
        let text = logged(|| {
            tracing::warn!(error = &error as &dyn std::error::Error, "write failed");
            tracing::debug!("quiet");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with("level=warn error=\"disk full\" msg=\"write failed\""),
            "{text}"
        );
        assert!(lines[1].ends_with("level=debug msg=quiet"), "{text}");
    }

    /// The seed's pipeline, `grep identity.pub | cut -d '"' -f2`, run with the
    /// real grep and cut over the line fluxd logs with the deploy key.
    #[test]
    fn the_seeds_pipeline_prints_the_deploy_key() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBFkb2NrZXIgaXMgbm90IGEgcmVhbCBrZXk flux@cluster";
        let text = logged(|| {
            tracing::info!("starting");
            tracing::info!(identity.pub = key, "deploy key");
            tracing::info!(other = "with spaces", "after");
        });
        assert!(
            text.contains(&format!("identity.pub=\"{key}\" msg=\"deploy key\"")),
            "{text}"
        );
        let mut shell = Command::new("sh")
            .args(["-c", "grep identity.pub | cut -d '\"' -f2"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        shell
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = shell.wait_with_output().unwrap();
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            format!("{key}\n")
        );
    }
}
