//! What to say: turns `play_start` content items (seed types 0..7 and 10) into a
//! sequence of files, Mandarin prompt words and text to synthesise, and owns the
//! default Mandarin prompt set (`media/prompts/`, embedded in the binary).
//!
//! Pure and sans-IO (except [`PromptSet::missing_files`]): strings in, [`PlayStep`]s out.
//! The reading rules and their documented decisions live in [`zh_number`] (types 1, 2,
//! 3, 6) and [`zh_datetime`] (types 4, 5); content types in [`mod@plan`].

mod decimal;
mod error;
pub mod plan;
pub mod prompt_set;
mod word;
pub mod zh_datetime;
pub mod zh_number;

pub use decimal::{Decimal, MAX_DIGITS, parse_decimal};
pub use error::{PlanError, ReadError};
pub use plan::{MAX_ITEMS, PlayStep, SpeechItem, plan, plan_seed};
pub use prompt_set::{PROMPT_FILES, PromptAudio, PromptSet};
pub use word::{Word, to_hanzi};

/// Longest content string (in bytes, after trimming) accepted by the reading rules of
/// types 1 to 6.
pub const MAX_INPUT_LEN: usize = 64;
