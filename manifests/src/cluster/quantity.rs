//! Kubernetes resource quantities (`500m`, `1Gi`, `0.5`, `1e3`) compared by
//! value, since the apiserver stores them in canonical form: `cpu: 0.5` in
//! git reads back as `"500m"`, `memory: 1024Mi` as `"1Gi"`.

/// A quantity's exact value: `mantissa × 10^exponent`, normalised so the
/// mantissa has no trailing zeros. Two quantities are equal when their
/// values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quantity {
    mantissa: i128,
    exponent: i32,
}

impl Quantity {
    /// Parses Kubernetes' quantity syntax: a signed decimal number, then a
    /// binary suffix (`Ki` .. `Ei`), a decimal suffix (`n`, `u`, `m`, `k`,
    /// `M` .. `E`) or an exponent (`e3`, `E-2`). `None` when `text` is not a
    /// quantity or does not fit.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return None;
        }
        let mut mantissa: i128 = 0;
        for digit in whole.bytes().chain(fraction.bytes()) {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(digit - b'0'))?;
        }
        let mut exponent = -i32::try_from(fraction.len()).ok()?;
        match suffix {
            "" => {}
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
                let power = match suffix {
                    "Ki" => 1,
                    "Mi" => 2,
                    "Gi" => 3,
                    "Ti" => 4,
                    "Pi" => 5,
                    _ => 6,
                };
                mantissa = mantissa.checked_mul(1024_i128.checked_pow(power)?)?;
            }
            "n" => exponent -= 9,
            "u" => exponent -= 6,
            "m" => exponent -= 3,
            "k" => exponent += 3,
            "M" => exponent += 6,
            "G" => exponent += 9,
            "T" => exponent += 12,
            "P" => exponent += 15,
            "E" => exponent += 18,
            _ => {
                let digits = suffix.strip_prefix(['e', 'E'])?;
                let value: i32 = digits.parse().ok()?;
                if !(-100..=100).contains(&value) {
                    return None;
                }
                exponent += value;
            }
        }
        if negative {
            mantissa = -mantissa;
        }
        Some(Self::normalised(mantissa, exponent))
    }

    fn normalised(mut mantissa: i128, mut exponent: i32) -> Self {
        if mantissa == 0 {
            return Self {
                mantissa: 0,
                exponent: 0,
            };
        }
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        Self { mantissa, exponent }
    }
}

/// True when `desired` (a JSON number or string) and `live` (a string) are
/// the same quantity written differently.
pub(crate) fn same_quantity(desired: &serde_json::Value, live: &str) -> bool {
    let desired = match desired {
        serde_json::Value::String(text) => Quantity::parse(text),
        serde_json::Value::Number(number) => Quantity::parse(&number.to_string()),
        _ => None,
    };
    match (desired, Quantity::parse(live)) {
        (Some(desired), Some(live)) => desired == live,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn canonical_forms_are_equal() {
        for (a, b) in [
            ("0.5", "500m"),
            ("1", "1000m"),
            ("1024Mi", "1Gi"),
            ("0.5Gi", "512Mi"),
            ("1e3", "1k"),
            ("1E3", "1k"),
            ("1000", "1k"),
            ("128974848", "128974848e0"),
            ("128974848", "128974848"),
            ("100M", "1e8"),
            ("+2", "2"),
            ("-0.5", "-500m"),
            ("0", "0m"),
            (".5", "500m"),
            ("5.", "5"),
            ("1Ki", "1024"),
            ("250u", "0.00025"),
            ("1n", "0.000000001"),
        ] {
            assert_eq!(q(a), q(b), "{a} = {b}");
        }
        for (a, b) in [("1", "1001m"), ("1Gi", "1G"), ("1", "-1"), ("1k", "1Ki")] {
            assert_ne!(q(a), q(b), "{a} != {b}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_quantity() {
        for text in [
            "",
            "-",
            ".",
            "1.2.3",
            "abc",
            "1 Gi",
            "1gi",
            "1KiB",
            "1e",
            "1e999",
            "web",
            "1x",
            "99999999999999999999999999999999999999999999Ei",
        ] {
            assert_eq!(Quantity::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn json_numbers_and_strings() {
        assert!(same_quantity(&json!(0.5), "500m"));
        assert!(same_quantity(&json!(2), "2"));
        assert!(same_quantity(&json!("1024Mi"), "1Gi"));
        assert!(!same_quantity(&json!("1024Mi"), "1G"));
        assert!(!same_quantity(&json!(true), "1"));
        assert!(!same_quantity(&json!("web"), "web"), "not quantities");
    }
}
