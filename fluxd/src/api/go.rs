//! How Go's `encoding/json` writes and reads the values Flux v1 sends, as
//! serde helpers: nil slices and maps as `null`, `null` read as empty, and
//! times as `time.RFC3339Nano` in UTC.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer};
use serde::ser::Serializer;

/// Reads `null` (Go's nil slice or map) as the type's empty value.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Anything with a length, for [`nil_if_empty`].
pub(crate) trait IsEmpty {
    fn is_empty_value(&self) -> bool;
}

impl<T> IsEmpty for Vec<T> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

impl<K, V> IsEmpty for std::collections::BTreeMap<K, V> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

/// Writes an empty slice or map as `null`, as Go writes a nil one: for the
/// fields fluxd leaves nil when there is nothing in them.
pub(crate) fn nil_if_empty<S, T>(value: &T, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: IsEmpty + serde::Serialize,
{
    if value.is_empty_value() {
        serializer.serialize_none()
    } else {
        value.serialize(serializer)
    }
}

/// Whether a number is Go's zero value, for `omitempty` integers.
pub(crate) fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// A time as Go's `t.UTC().Format(time.RFC3339Nano)` writes it: UTC, `Z`,
/// fractional seconds only as far as they are not zero.
pub(crate) fn format_time(time: jiff::Timestamp) -> String {
    // jiff's Display is RFC 3339 in UTC with the fraction trimmed, which is
    // Go's RFC3339Nano for years 0000-9999.
    time.to_string()
}

/// Parses a time as Go's `time.Parse(time.RFC3339, s)` does (fractional
/// seconds and any offset accepted).
pub(crate) fn parse_time(text: &str) -> Result<jiff::Timestamp, jiff::Error> {
    text.parse()
}

/// `Option<Timestamp>` as Flux's custom marshallers write it: absent when
/// zero, else RFC3339Nano in UTC. Use with `skip_serializing_if = "Option::is_none"`.
pub(crate) mod optional_time {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<jiff::Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(time) => serializer.serialize_str(&format_time(*time)),
            None => serializer.serialize_str(""),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<jiff::Timestamp>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        if text.is_empty() {
            return Ok(None);
        }
        parse_time(&text)
            .map(Some)
            .map_err(|error| de::Error::custom(format_args!("time {text:?}: {error}")))
    }
}

/// A visitor for types that travel as one JSON string and parse from it.
pub(crate) struct StrVisitor<T> {
    pub(crate) expecting: &'static str,
    pub(crate) marker: std::marker::PhantomData<T>,
}

impl<T> StrVisitor<T> {
    pub(crate) const fn new(expecting: &'static str) -> Self {
        Self {
            expecting,
            marker: std::marker::PhantomData,
        }
    }
}

impl<T> de::Visitor<'_> for StrVisitor<T>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        value.parse().map_err(E::custom)
    }
}

/// Declares an enum of the strings a Go string type takes, keeping any
/// other string it meets (Go's types are plain strings: a newer peer may
/// send a value this side does not know, and it must survive a round trip).
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// The string on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $( $text => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::from(text.as_ref()))
            }
        }
    };
}

pub(crate) use string_enum;

/// A serde_json formatter that escapes strings as Go's `encoding/json`
/// does: `<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes, and backspace and
/// form feed as `\u0008` and `\u000c` (Go has no `\b` or `\f`).
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (index, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..index])?;
            writer.write_all(escape.as_bytes())?;
            start = index + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        use serde_json::ser::CharEscape;
        let text: std::borrow::Cow<'static, str> = match char_escape {
            CharEscape::Quote => "\\\"".into(),
            CharEscape::ReverseSolidus => "\\\\".into(),
            CharEscape::Solidus => "\\/".into(),
            CharEscape::LineFeed => "\\n".into(),
            CharEscape::CarriageReturn => "\\r".into(),
            CharEscape::Tab => "\\t".into(),
            CharEscape::Backspace => "\\u0008".into(),
            CharEscape::FormFeed => "\\u000c".into(),
            CharEscape::AsciiControl(byte) => format!("\\u{byte:04x}").into(),
        };
        writer.write_all(text.as_bytes())
    }
}

/// Encodes a value byte for byte as Go's `json.Marshal` would: compact,
/// fields in declaration order, map keys sorted, strings escaped as Go
/// escapes them. What fluxd's server writes, so a Flux v1 client (or a
/// script comparing bytes) sees what it saw from Flux.
pub fn to_go_json<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value.serialize(&mut serializer)?;
    Ok(out)
}
