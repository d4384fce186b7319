//! Errors of the speech layer: why one content item cannot be planned, and why a whole
//! `play_start` content list cannot be planned.

/// Why one content item cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Nothing to play (a blank file name or text, an empty file list).
    #[error("empty content")]
    Empty,
    /// A multi-file list (type 7) has a blank name at this position.
    #[error("empty file name at position {0} of the file list")]
    EmptyFileName(usize),
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
