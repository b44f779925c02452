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
/// use fluxd::parse_go_duration;
///
/// assert_eq!(parse_go_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_go_duration("1.5s").unwrap(), Duration::from_millis(1500));
/// assert!(parse_go_duration("5").is_err()); // a unit is required
/// ```
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.starts_with('-') {
        return Err(format!("{text:?} is negative"));
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err("empty duration (write it like 5m, 10s or 1h30m)".to_owned());
    }
    let mut total: u128 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(format!(
                "{text:?} is not a duration (write it like 5m, 10s or 1h30m)"
            ));
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
                return Err(format!(
                    "{text:?} has no unit after {number} (use ns, us, ms, s, m or h)"
                ));
            }
            other => {
                return Err(format!(
                    "{text:?} has an unknown unit {other:?} (use ns, us, ms, s, m or h)"
                ));
            }
        };
        total = total
            .checked_add(scaled(number, nanos_per_unit).ok_or_else(|| too_long(text))?)
            .ok_or_else(|| too_long(text))?;
        rest = next;
    }
    let seconds = u64::try_from(total / 1_000_000_000).map_err(|_| too_long(text))?;
    // The remainder is below 10^9, so it fits.
    let nanos = u32::try_from(total % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(seconds, nanos))
}

fn too_long(text: &str) -> String {
    format!("{text:?} is too long a duration")
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
