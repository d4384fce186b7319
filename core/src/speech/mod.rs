//! What to say: turns `play_start` content items (seed types 0..7 and 10) into a
//! sequence of files, Mandarin prompt words and text to synthesise, and owns the
//! default Mandarin prompt set (`media/prompts/`, embedded in the binary).
//!
//! Pure and sans-IO: typed [`SpeechItem`]s in,
//! [`PlayStep`]s out. The values and their one text grammar (which the API decodes
//! content with) live in [`decimal`] (types 2, 3, 6) and [`calendar`] (types 4, 5); the
//! reading rules and their documented decisions in [`zh_number`] (types 1, 2, 3, 6) and
//! [`zh_datetime`] (types 4, 5); content types in [`mod@plan`].

pub mod calendar;
pub mod decimal;
mod error;
pub mod plan;
pub mod prompt_set;
mod word;
pub mod zh_datetime;
pub mod zh_number;

pub use calendar::{Date, TimeOfDay, TimeSpan, parse_datetime, parse_duration};
pub use decimal::{Decimal, DecimalError, MAX_FRAC_DIGITS, MAX_INT_DIGITS, parse_decimal};
pub use error::{PlanError, ReadError};
pub use plan::{MAX_ITEMS, PlayStep, SpeechItem, plan};
pub use prompt_set::{PROMPT_FILES, PromptAudio, PromptSet};
pub use word::{Word, to_hanzi};
