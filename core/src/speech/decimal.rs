//! [`Decimal`], the exact decimal number of content types 2, 3 and 6, and its one text
//! grammar ([`parse_decimal`]), which the API decodes `play_start` content with.
//!
//! Grammar: `[-]D+[.D+]`, ASCII digits only, at most [`MAX_INT_DIGITS`] integer and
//! [`MAX_FRAC_DIGITS`] fraction digits; the sign only where the type allows negative
//! numbers. Nothing else: no `+`, no blanks, no exponent, no `.5` or `5.`, no thousands
//! separators, no full-width digits. No floating point: `10.50` keeps its trailing zero.

/// Most integer digits of a number.
pub const MAX_INT_DIGITS: usize = 16;
/// Most fraction digits of a number.
pub const MAX_FRAC_DIGITS: usize = 8;

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

/// Why a text is not a [`Decimal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// Not `[-]D+[.D+]` (or a sign where `allow_negative` is false).
    Malformed,
    /// More than [`MAX_INT_DIGITS`] integer or [`MAX_FRAC_DIGITS`] fraction digits.
    TooManyDigits,
}

/// Parses `s` (see the module doc); `allow_negative` admits the leading `-`.
pub fn parse_decimal(s: &str, allow_negative: bool) -> Result<Decimal, DecimalError> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(b) if allow_negative => (true, b),
        Some(_) => return Err(DecimalError::Malformed),
        None => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !frac.is_none_or(all_digits) {
        return Err(DecimalError::Malformed);
    }
    if int.len() > MAX_INT_DIGITS || frac.is_some_and(|f| f.len() > MAX_FRAC_DIGITS) {
        return Err(DecimalError::TooManyDigits);
    }
    Ok(Decimal {
        negative,
        int: int.trim_start_matches('0').to_string(),
        frac: frac.unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (bool, String, String) {
        let d = parse_decimal(s, true).unwrap_or_else(|e| panic!("{s:?}: {e:?}"));
        (d.negative, d.int, d.frac)
    }

    #[test]
    fn parses_plain_numbers() {
        let cases = [
            ("0", false, "", ""),
            ("7", false, "7", ""),
            ("007", false, "7", ""),
            ("-12", true, "12", ""),
            ("3.14", false, "3", "14"),
            ("10.50", false, "10", "50"),
            ("0.05", false, "", "05"),
            ("-0.0", true, "", "0"),
            ("1086.30", false, "1086", "30"),
            ("1234567890123456", false, "1234567890123456", ""),
            ("0.12345678", false, "", "12345678"),
        ];
        for (s, neg, int, frac) in cases {
            assert_eq!(ok(s), (neg, int.to_string(), frac.to_string()), "{s:?}");
        }
    }

    #[test]
    fn rejects_malformed_numbers() {
        for s in [
            "", "abc", "-", "+", ".", "1.2.3", "1,000", "1 000", "--1", "+-1", "+12", " 1", "1 ",
            ".5", "5.", "1e5", "1E+3", "0x10", "inf", "NaN", "１２", "1_000", "-.5",
        ] {
            assert_eq!(
                parse_decimal(s, true),
                Err(DecimalError::Malformed),
                "{s:?}"
            );
        }
        assert_eq!(parse_decimal("-1", false), Err(DecimalError::Malformed));
        assert_eq!(parse_decimal("-1x", false), Err(DecimalError::Malformed));
        assert_eq!(parse_decimal("1.5", false).map(|d| d.negative), Ok(false));
    }

    #[test]
    fn bounds_the_digits() {
        for s in [
            "1".repeat(MAX_INT_DIGITS + 1),
            format!("1.{}", "5".repeat(MAX_FRAC_DIGITS + 1)),
        ] {
            assert_eq!(
                parse_decimal(&s, true),
                Err(DecimalError::TooManyDigits),
                "{s:?}"
            );
        }
    }

    #[test]
    fn zero_detection() {
        for (s, zero) in [
            ("0", true),
            ("-0.000", true),
            ("000", true),
            ("0.001", false),
            ("10", false),
        ] {
            assert_eq!(
                parse_decimal(s, true).map(|d| d.is_zero()),
                Ok(zero),
                "{s:?}"
            );
        }
    }
}
