//! Errors of the speech layer: why one content string cannot be read, and why a whole
//! `play_start` content list cannot be planned.

/// Why one content string cannot be read. Messages quote the offending input (which is
/// at most [`MAX_INPUT_LEN`](super::MAX_INPUT_LEN) bytes when quoted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Nothing to read (empty or blank string).
    #[error("empty content")]
    Empty,
    /// The input, or a number once its exponent is applied, is too long to read.
    #[error("content is too long (at most {max} characters or digits)")]
    TooLong {
        /// The limit that was exceeded.
        max: usize,
    },
    /// Type 1 wants ASCII decimal digits only.
    #[error("not a digit string: {0:?}")]
    NotDigits(String),
    /// Types 2, 3, 6 want a decimal number: `[+-]digits[.digits][e[+-]digits]`.
    #[error("not a decimal number: {0:?}")]
    NotNumber(String),
    /// Type 4 accepts `YYYY-mm-dd HH:MM:SS`, `YYYY-mm-dd HH:MM`, `YYYY-mm-dd`, `YYYY-mm`,
    /// `HH:MM:SS` and `HH:MM`.
    #[error(
        "not a date/time (YYYY-mm-dd HH:MM:SS, YYYY-mm-dd HH:MM, YYYY-mm-dd, YYYY-mm, HH:MM:SS or HH:MM): {0:?}"
    )]
    NotDateTime(String),
    /// Type 5 accepts `HH:MM:SS` and `HH:MM`, each field 0..=99.
    #[error("not a duration (HH:MM:SS or HH:MM, each field 0..99): {0:?}")]
    NotDuration(String),
    /// A date or time field is outside its range.
    #[error("{field} {value} is out of range {min}..={max}")]
    OutOfRange {
        /// "year", "month", "day", "hour", "minute" or "second".
        field: &'static str,
        /// The value given.
        value: u32,
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// A multi-file list (type 7) has an empty name between two `|`.
    #[error("empty file name at position {0} of the file list")]
    EmptyFileName(usize),
    /// A content type the seed does not define (8, 9, 11 and above).
    #[error("unknown content type {0}")]
    UnknownType(i64),
}

/// Why a `play_start` content list cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// More items than the seed allows.
    #[error("content has {count} items, at most {max} are allowed")]
    TooManyItems {
        /// Items given.
        count: usize,
        /// The limit ([`MAX_ITEMS`](super::MAX_ITEMS)).
        max: usize,
    },
    /// One item cannot be read.
    #[error("content[{index}]: {source}")]
    Item {
        /// Position of the item in the content list (0-based).
        index: usize,
        /// What is wrong with it.
        source: ReadError,
    },
}
