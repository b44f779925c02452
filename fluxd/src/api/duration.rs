//! Durations written as Go writes them (`5m`, `10s`, `1h30m`, `1.5h`, `300ms`),
//! the form Flux v1's flags and Helm chart values use.

use std::fmt;
use std::time::Duration;

/// Parses a Go duration: an optional `+`, then one or more decimal numbers
/// (with an optional fraction), each followed by a unit: `ns`, `us` (or `µs`),
/// `ms`, `s`, `m`, `h`. A bare `0` is zero. Negative durations are refused:
/// every interval and timeout of the daemon must be positive or zero.
///
/// ```
/// use std::time::Duration;
/// use fluxd::api::parse_go_duration;
///
/// assert_eq!(parse_go_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_go_duration("1.5s").unwrap(), Duration::from_millis(1500));
/// assert!(parse_go_duration("5").is_err()); // a unit is required
/// ```
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    GoDuration::parse(text)
        .map(|d| d.0)
        .map_err(|e| e.to_string())
}

/// Why a text is not a Go duration. `Display` says it for a person (what
/// fluxd prints for a flag); [`DurationError::go_message`] says it as Go's
/// `time.ParseDuration` does (what Flux v1's fluxctl printed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError {
    text: String,
    kind: DurationErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DurationErrorKind {
    Negative,
    Empty,
    Invalid,
    MissingUnit { number: String },
    UnknownUnit { unit: String },
    TooLong,
}

impl DurationError {
    fn new(text: &str, kind: DurationErrorKind) -> Self {
        Self {
            text: text.to_owned(),
            kind,
        }
    }

    /// The message Go's `time.ParseDuration` gives for the same text
    /// (`time: invalid duration "soon"`).
    pub fn go_message(&self) -> String {
        let text = &self.text;
        match &self.kind {
            DurationErrorKind::Negative => format!("time: negative duration {text:?}"),
            DurationErrorKind::MissingUnit { .. } => {
                format!("time: missing unit in duration {text:?}")
            }
            DurationErrorKind::UnknownUnit { unit } => {
                format!("time: unknown unit {unit:?} in duration {text:?}")
            }
            DurationErrorKind::Empty | DurationErrorKind::Invalid | DurationErrorKind::TooLong => {
                format!("time: invalid duration {text:?}")
            }
        }
    }
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = &self.text;
        match &self.kind {
            DurationErrorKind::Negative => write!(f, "{text:?} is negative"),
            DurationErrorKind::Empty => {
                f.write_str("empty duration (write it like 5m, 10s or 1h30m)")
            }
            DurationErrorKind::Invalid => write!(
                f,
                "{text:?} is not a duration (write it like 5m, 10s or 1h30m)"
            ),
            DurationErrorKind::MissingUnit { number } => write!(
                f,
                "{text:?} has no unit after {number} (use ns, us, ms, s, m or h)"
            ),
            DurationErrorKind::UnknownUnit { unit } => write!(
                f,
                "{text:?} has an unknown unit {unit:?} (use ns, us, ms, s, m or h)"
            ),
            DurationErrorKind::TooLong => write!(f, "{text:?} is too long a duration"),
        }
    }
}

impl std::error::Error for DurationError {}

impl GoDuration {
    /// Parses a Go duration, as [`parse_go_duration`] does, with a typed
    /// error.
    ///
    /// ```
    /// use fluxd::api::GoDuration;
    ///
    /// assert_eq!(GoDuration::parse("1m30s").unwrap().to_string(), "1m30s");
    /// let error = GoDuration::parse("soon").unwrap_err();
    /// assert_eq!(error.go_message(), r#"time: invalid duration "soon""#);
    /// ```
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        use DurationErrorKind as Kind;
        let fail = |kind| DurationError::new(text, kind);
        let body = text.strip_prefix('+').unwrap_or(text);
        if body.starts_with('-') {
            return Err(fail(Kind::Negative));
        }
        if body == "0" {
            return Ok(Self(Duration::ZERO));
        }
        if body.is_empty() {
            return Err(fail(Kind::Empty));
        }
        let mut total: u128 = 0;
        let mut rest = body;
        while !rest.is_empty() {
            let number_end = rest
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .unwrap_or(rest.len());
            let (number, after) = rest.split_at(number_end);
            if number.is_empty() || number == "." || number.matches('.').count() > 1 {
                return Err(fail(Kind::Invalid));
            }
            let unit_end = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, next) = after.split_at(unit_end);
            let nanos_per_unit: u128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                "" => {
                    return Err(fail(Kind::MissingUnit {
                        number: number.to_owned(),
                    }));
                }
                other => {
                    return Err(fail(Kind::UnknownUnit {
                        unit: other.to_owned(),
                    }));
                }
            };
            total = scaled(number, nanos_per_unit)
                .and_then(|n| total.checked_add(n))
                .ok_or_else(|| fail(Kind::TooLong))?;
            rest = next;
        }
        let seconds = u64::try_from(total / 1_000_000_000).map_err(|_| fail(Kind::TooLong))?;
        // The remainder is below 10^9, so it fits.
        let nanos = u32::try_from(total % 1_000_000_000).unwrap_or(0);
        Ok(Self(Duration::new(seconds, nanos)))
    }
}

/// `number` (digits with at most one `.`) times `unit` nanoseconds, rounded
/// down to whole nanoseconds; `None` on overflow.
fn scaled(number: &str, unit: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut value = whole.checked_mul(unit)?;
    let mut scale = unit;
    for digit in fraction.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        value = value.checked_add(u128::from(digit - b'0') * scale)?;
    }
    Some(value)
}

/// Shows a duration the way Go does (`5m0s`, `1h30m0s`, `1.5s`, `300ms`), so
/// logs and help texts read like Flux's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let duration = self.0;
        if duration.is_zero() {
            return f.write_str("0s");
        }
        if duration < Duration::from_secs(1) {
            let nanos = duration.subsec_nanos();
            return if nanos.is_multiple_of(1_000_000) {
                write!(f, "{}ms", nanos / 1_000_000)
            } else if nanos.is_multiple_of(1_000) {
                write!(f, "{}µs", nanos / 1_000)
            } else {
                write!(f, "{nanos}ns")
            };
        }
        let total = duration.as_secs();
        let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write!(f, "{seconds}")?;
        let nanos = duration.subsec_nanos();
        if nanos > 0 {
            let fraction = format!("{nanos:09}");
            write!(f, ".{}", fraction.trim_end_matches('0'))?;
        }
        f.write_str("s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_go_writes() {
        let cases = [
            ("0", Duration::ZERO),
            ("10s", Duration::from_secs(10)),
            ("5m", Duration::from_secs(300)),
            ("+5m", Duration::from_secs(300)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h30m15s", Duration::from_secs(5415)),
            ("1.5h", Duration::from_secs(5400)),
            (".5s", Duration::from_millis(500)),
            ("300ms", Duration::from_millis(300)),
            ("2us", Duration::from_micros(2)),
            ("2µs", Duration::from_micros(2)),
            ("7ns", Duration::from_nanos(7)),
            ("200m", Duration::from_secs(12_000)),
            ("1m0s", Duration::from_secs(60)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_go_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses_and_negative_ones() {
        for text in [
            "", "5", "m", "5x", "1.2.3s", "-5m", "5 m", "1h-5m", ".s", "s5",
        ] {
            let error = parse_go_duration(text).unwrap_err();
            assert!(!error.is_empty(), "{text}");
        }
        assert!(parse_go_duration("99999999999999999999h").is_err());
        assert!(
            parse_go_duration("5")
                .unwrap_err()
                .contains("no unit after 5")
        );
    }

    #[test]
    fn go_messages_are_gos() {
        let go = |text: &str| GoDuration::parse(text).unwrap_err().go_message();
        assert_eq!(go("10"), "time: missing unit in duration \"10\"");
        assert_eq!(go("5y"), "time: unknown unit \"y\" in duration \"5y\"");
        assert_eq!(go("soon"), "time: invalid duration \"soon\"");
        assert_eq!(go("-1s"), "time: negative duration \"-1s\"");
        assert_eq!(go(""), "time: invalid duration \"\"");
    }

    #[test]
    fn shows_durations_as_go_does() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_secs(5400), "1h30m0s"),
            (Duration::from_secs(20), "20s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(300), "300ms"),
        ];
        for (duration, expected) in cases {
            assert_eq!(GoDuration(duration).to_string(), expected);
        }
    }
}
