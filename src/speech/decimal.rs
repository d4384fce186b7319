//! Parsing of the decimal numbers of content types 2, 3 and 6 into exact digit strings
//! (no floating point: "10.50" keeps its trailing zero, "0.1" stays exact).
//!
//! Accepted: optional surrounding blanks, an optional `+`/`-`, digits with at most one
//! `.` (at least one digit in all: "5.", ".5" are accepted), and an optional exponent
//! `e`/`E` `[+-]digits` as a JSON number may carry ("1e20", "2.5E-3"). With an exponent
//! the digits are shifted and trailing fraction zeros dropped (there is no "as written"
//! for them). Nothing else: no thousands separators, no full-width digits, no inf/NaN.

use super::{MAX_INPUT_LEN, ReadError};

/// Most digits a number may have once its exponent is applied.
pub const MAX_DIGITS: usize = 64;

/// An exact decimal number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    /// A minus sign was given (kept even for zero; readers drop it there).
    pub negative: bool,
    /// Integer digits without leading zeros ("" for zero), ASCII.
    pub int: String,
    /// Fraction digits as written (may end in zeros), ASCII.
    pub frac: String,
}

impl Decimal {
    /// True when every digit is zero.
    pub fn is_zero(&self) -> bool {
        self.int.is_empty() && self.frac.bytes().all(|b| b == b'0')
    }
}

/// Parses `s` as a decimal number (see the module doc for the syntax).
pub fn parse_decimal(s: &str) -> Result<Decimal, ReadError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ReadError::Empty);
    }
    if t.len() > MAX_INPUT_LEN {
        return Err(ReadError::TooLong { max: MAX_INPUT_LEN });
    }
    let bad = || ReadError::NotNumber(t.to_string());
    let (negative, rest) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (
            &rest[..i],
            Some(parse_exponent(&rest[i + 1..]).ok_or_else(bad)?),
        ),
        None => (rest, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !all_digits(frac) || int.len() + frac.len() == 0 {
        return Err(bad());
    }
    let (int, frac) = match exponent {
        None => (int.to_string(), frac.to_string()),
        Some(e) => {
            let (i, mut f) = shift(int, frac, e)?;
            let kept = f.trim_end_matches('0').len();
            f.truncate(kept);
            (i, f)
        }
    };
    if int.len() + frac.len() > MAX_DIGITS {
        return Err(ReadError::TooLong { max: MAX_DIGITS });
    }
    let int = int.trim_start_matches('0').to_string();
    Ok(Decimal {
        negative,
        int,
        frac,
    })
}

/// `[+-]digits`, at most 4 digits (anything larger is far beyond `MAX_DIGITS`).
fn parse_exponent(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Moves the decimal point of `int.frac` by `e` places.
fn shift(int: &str, frac: &str, e: i64) -> Result<(String, String), ReadError> {
    let too_long = ReadError::TooLong { max: MAX_DIGITS };
    let digits = format!("{int}{frac}");
    // Position of the point within `digits` after the shift.
    let point = int.len() as i64 + e;
    let limit = (MAX_DIGITS + MAX_INPUT_LEN) as i64;
    if point > limit || point < -limit {
        return Err(too_long);
    }
    let len = digits.len() as i64;
    Ok(if point <= 0 {
        let zeros = "0".repeat(usize::try_from(-point).map_err(|_| too_long.clone())?);
        (String::new(), zeros + &digits)
    } else if point >= len {
        let zeros = "0".repeat(usize::try_from(point - len).map_err(|_| too_long.clone())?);
        (digits + &zeros, String::new())
    } else {
        let p = usize::try_from(point).map_err(|_| too_long)?;
        (digits[..p].to_string(), digits[p..].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (bool, String, String) {
        let d = parse_decimal(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        (d.negative, d.int, d.frac)
    }

    #[test]
    fn parses_plain_numbers() {
        let cases = [
            ("0", false, "", ""),
            ("7", false, "7", ""),
            ("007", false, "7", ""),
            ("-12", true, "12", ""),
            ("+12", false, "12", ""),
            ("3.14", false, "3", "14"),
            ("10.50", false, "10", "50"),
            ("0.05", false, "", "05"),
            (".5", false, "", "5"),
            ("5.", false, "5", ""),
            ("-0.0", true, "", "0"),
            ("  1086.30 ", false, "1086", "30"),
            ("12345678901234567890", false, "12345678901234567890", ""),
        ];
        for (s, neg, int, frac) in cases {
            assert_eq!(ok(s), (neg, int.to_string(), frac.to_string()), "{s:?}");
        }
    }

    #[test]
    fn applies_exponents() {
        let cases = [
            ("1e3", false, "1000", ""),
            ("1E+3", false, "1000", ""),
            ("2.5e-3", false, "", "0025"),
            ("-1.25e1", true, "12", "5"),
            ("1.50e1", false, "15", ""),
            ("123e-1", false, "12", "3"),
            ("1e20", false, "100000000000000000000", ""),
            ("5e0", false, "5", ""),
            ("0e5", false, "", ""),
        ];
        for (s, neg, int, frac) in cases {
            assert_eq!(ok(s), (neg, int.to_string(), frac.to_string()), "{s:?}");
        }
    }

    #[test]
    fn rejects_malformed_numbers() {
        for s in [
            "abc", "-", "+", ".", "1.2.3", "1,000", "1 000", "--1", "+-1", "1e", "1e+", "e5",
            "1e5.5", "0x10", "inf", "NaN", "１２", "1_000", "1e99999",
        ] {
            assert_eq!(
                parse_decimal(s),
                Err(ReadError::NotNumber(s.trim().to_string())),
                "{s:?}"
            );
        }
        assert_eq!(parse_decimal(""), Err(ReadError::Empty));
        assert_eq!(parse_decimal("   "), Err(ReadError::Empty));
    }

    #[test]
    fn bounds_the_length() {
        let long = "1".repeat(MAX_INPUT_LEN + 1);
        assert_eq!(
            parse_decimal(&long),
            Err(ReadError::TooLong { max: MAX_INPUT_LEN })
        );
        for s in ["1e64", "1e-65", "1e9999", "1e-9999"] {
            assert_eq!(
                parse_decimal(s),
                Err(ReadError::TooLong { max: MAX_DIGITS }),
                "{s:?}"
            );
        }
        assert_eq!(ok("1e63").1.len(), 64);
        assert_eq!(ok("1e-64").2.len(), 64);
    }

    #[test]
    fn zero_detection() {
        for (s, zero) in [
            ("0", true),
            ("-0.000", true),
            ("0e7", true),
            ("0.001", false),
            ("10", false),
        ] {
            assert_eq!(parse_decimal(s).map(|d| d.is_zero()), Ok(zero), "{s:?}");
        }
    }
}
