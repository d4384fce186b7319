//! Turns the items of a `play_start` content list into what to play, in order: files,
//! prompt words and text to synthesise.
//!
//! Decisions: file names (types 0 and 7) are passed through trimmed of surrounding
//! blanks (checking them against the media roots is the caller's job); a type 7 list
//! with an empty name (`a.wav||b.wav`, a trailing `|`) is an error, not skipped; type 10
//! text is passed on untouched but must not be blank; types below 0 play nothing; types
//! 8, 9 and above 10 are errors. At most [`MAX_ITEMS`] items (seed: 最多30个元素).

use super::{PlanError, ReadError, Word, zh_datetime, zh_number};

/// Most items a content list may hold.
pub const MAX_ITEMS: usize = 30;

/// One item of a `play_start` content list, holding its raw content string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeechItem {
    /// Type 0: one file name.
    File(String),
    /// Type 1: a digit string, read digit by digit.
    Digits(String),
    /// Type 2: a decimal number.
    Number(String),
    /// Type 3: an amount, read as a number of 元.
    Amount(String),
    /// Type 4: a date and/or time of day.
    DateTime(String),
    /// Type 5: a duration.
    Duration(String),
    /// Type 6: an amount read in 元角分.
    AmountYuan(String),
    /// Type 7: file names separated by `|`.
    Files(String),
    /// Type 10: text to synthesise.
    Tts(String),
    /// Types below 0: nothing is played.
    Ignored,
}

/// One thing to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayStep {
    /// A file, named as the client gave it (relative to `media.root`, or absolute).
    File(String),
    /// A word of the prompt set.
    Prompt(Word),
    /// Text for the speech synthesiser.
    Tts(String),
}

impl SpeechItem {
    /// The item for the seed's content type `kind` and content string.
    pub fn from_seed(kind: i64, content: &str) -> Result<SpeechItem, ReadError> {
        let c = content.to_string();
        Ok(match kind {
            k if k < 0 => SpeechItem::Ignored,
            0 => SpeechItem::File(c),
            1 => SpeechItem::Digits(c),
            2 => SpeechItem::Number(c),
            3 => SpeechItem::Amount(c),
            4 => SpeechItem::DateTime(c),
            5 => SpeechItem::Duration(c),
            6 => SpeechItem::AmountYuan(c),
            7 => SpeechItem::Files(c),
            10 => SpeechItem::Tts(c),
            k => return Err(ReadError::UnknownType(k)),
        })
    }

    /// Appends this item's steps to `out`.
    fn plan_into(&self, out: &mut Vec<PlayStep>) -> Result<(), ReadError> {
        let words = match self {
            SpeechItem::Ignored => return Ok(()),
            SpeechItem::File(name) => {
                out.push(PlayStep::File(file_name(name).ok_or(ReadError::Empty)?));
                return Ok(());
            }
            SpeechItem::Files(list) => {
                if list.trim().is_empty() {
                    return Err(ReadError::Empty);
                }
                let start = out.len();
                for (i, name) in list.split('|').enumerate() {
                    match file_name(name) {
                        Some(n) => out.push(PlayStep::File(n)),
                        None => {
                            out.truncate(start);
                            return Err(ReadError::EmptyFileName(i));
                        }
                    }
                }
                return Ok(());
            }
            SpeechItem::Tts(text) => {
                if text.trim().is_empty() {
                    return Err(ReadError::Empty);
                }
                out.push(PlayStep::Tts(text.clone()));
                return Ok(());
            }
            SpeechItem::Digits(s) => zh_number::read_digits(s)?,
            SpeechItem::Number(s) => zh_number::read_number(s)?,
            SpeechItem::Amount(s) => zh_number::read_amount(s)?,
            SpeechItem::AmountYuan(s) => zh_number::read_amount_yuan(s)?,
            SpeechItem::DateTime(s) => zh_datetime::read_datetime(s)?,
            SpeechItem::Duration(s) => zh_datetime::read_duration(s)?,
        };
        out.extend(words.into_iter().map(PlayStep::Prompt));
        Ok(())
    }
}

/// A trimmed, non-empty file name.
fn file_name(name: &str) -> Option<String> {
    let n = name.trim();
    (!n.is_empty()).then(|| n.to_string())
}

/// Plans a content list: the steps of every item, in order.
pub fn plan(items: &[SpeechItem]) -> Result<Vec<PlayStep>, PlanError> {
    if items.len() > MAX_ITEMS {
        return Err(PlanError::TooManyItems {
            count: items.len(),
            max: MAX_ITEMS,
        });
    }
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        item.plan_into(&mut out)
            .map_err(|source| PlanError::Item { index, source })?;
    }
    Ok(out)
}

/// Plans a content list given as the seed's (type, content) pairs.
pub fn plan_seed<'a>(
    items: impl IntoIterator<Item = (i64, &'a str)>,
) -> Result<Vec<PlayStep>, PlanError> {
    let items = items
        .into_iter()
        .enumerate()
        .map(|(index, (kind, content))| {
            if index >= MAX_ITEMS {
                return Err(PlanError::TooManyItems {
                    count: index + 1,
                    max: MAX_ITEMS,
                });
            }
            SpeechItem::from_seed(kind, content).map_err(|source| PlanError::Item { index, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    plan(&items)
}

#[cfg(test)]
mod tests {
    use super::super::prompt_set::{PROMPT_FILES, embedded};
    use super::super::to_hanzi;
    use super::*;

    fn words_of(steps: &[PlayStep]) -> Vec<Word> {
        steps
            .iter()
            .filter_map(|s| match s {
                PlayStep::Prompt(w) => Some(*w),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn seed_example_content() {
        let steps = plan_seed([
            (7, "welcome.wav|tile.wav"),
            (4, "2016-09-02"),
            (0, "your_amount_is.wav"),
            (3, "1086.30"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let files: Vec<&PlayStep> = steps.iter().take(2).collect();
        assert_eq!(
            files,
            [
                &PlayStep::File("welcome.wav".into()),
                &PlayStep::File("tile.wav".into())
            ]
        );
        let date_end = 2 + "二零一六年九月二日".chars().count();
        assert_eq!(
            to_hanzi(&words_of(&steps[2..date_end])),
            "二零一六年九月二日"
        );
        assert_eq!(steps[date_end], PlayStep::File("your_amount_is.wav".into()));
        assert_eq!(
            to_hanzi(&words_of(&steps[date_end + 1..])),
            "一千零八十六点三元"
        );
        assert_eq!(
            steps.len(),
            date_end + 1 + "一千零八十六点三元".chars().count()
        );
    }

    #[test]
    fn every_type_maps_to_its_reading() {
        let cases: [(i64, &str, &str); 7] = [
            (1, "95588", "九五五八八"),
            (2, "-20300.5", "负两万零三百点五"),
            (3, "12.50", "十二点五元"),
            (4, "2:00", "两点整"),
            (5, "2:0:0", "两小时"),
            (6, "12.05", "十二元零五分"),
            (2, "1e3", "一千"),
        ];
        for (kind, content, expected) in cases {
            let steps = plan_seed([(kind, content)]).unwrap_or_else(|e| panic!("{e}"));
            assert!(steps.iter().all(|s| matches!(s, PlayStep::Prompt(_))));
            assert_eq!(
                to_hanzi(&words_of(&steps)),
                expected,
                "type {kind} {content:?}"
            );
        }
    }

    #[test]
    fn files_tts_and_ignored_items() {
        let steps = plan(&[
            SpeechItem::File(" a.wav ".into()),
            SpeechItem::Ignored,
            SpeechItem::Files("b.wav | sub/c.wav|d.wav".into()),
            SpeechItem::Tts(" 您好 ".into()),
        ]);
        assert_eq!(
            steps,
            Ok(vec![
                PlayStep::File("a.wav".into()),
                PlayStep::File("b.wav".into()),
                PlayStep::File("sub/c.wav".into()),
                PlayStep::File("d.wav".into()),
                PlayStep::Tts(" 您好 ".into()),
            ])
        );
        assert_eq!(plan_seed([(-1, "whatever"), (-100, "")]), Ok(vec![]));
        assert_eq!(plan(&[]), Ok(vec![]));
    }

    #[test]
    fn errors_name_the_item() {
        let item = |index, source| Err(PlanError::Item { index, source });
        assert_eq!(
            plan_seed([(0, "a.wav"), (2, "12x")]),
            item(1, ReadError::NotNumber("12x".into()))
        );
        assert_eq!(plan_seed([(8, "x")]), item(0, ReadError::UnknownType(8)));
        assert_eq!(plan_seed([(11, "x")]), item(0, ReadError::UnknownType(11)));
        assert_eq!(plan_seed([(0, " ")]), item(0, ReadError::Empty));
        assert_eq!(plan_seed([(10, "")]), item(0, ReadError::Empty));
        assert_eq!(plan_seed([(7, "")]), item(0, ReadError::Empty));
        assert_eq!(
            plan_seed([(7, "a.wav||b.wav")]),
            item(0, ReadError::EmptyFileName(1))
        );
        assert_eq!(
            plan_seed([(7, "a.wav|")]),
            item(0, ReadError::EmptyFileName(1))
        );
        assert_eq!(
            plan_seed([(-1, ""), (4, "2012-13-1")]),
            item(
                1,
                ReadError::OutOfRange {
                    field: "month",
                    value: 13,
                    min: 1,
                    max: 12
                }
            )
        );
        let msg = plan_seed([(0, "a"), (5, "1:100")]).map_err(|e| e.to_string());
        assert_eq!(
            msg,
            Err("content[1]: minutes 100 is out of range 0..=99".into())
        );
    }

    #[test]
    fn item_count_is_bounded() {
        let ok: Vec<_> = (0..MAX_ITEMS).map(|_| (1, "1")).collect();
        assert_eq!(plan_seed(ok).map(|s| s.len()), Ok(MAX_ITEMS));
        let too_many: Vec<_> = (0..=MAX_ITEMS).map(|_| (1, "1")).collect();
        assert_eq!(
            plan_seed(too_many),
            Err(PlanError::TooManyItems {
                count: MAX_ITEMS + 1,
                max: MAX_ITEMS
            })
        );
        let items = vec![SpeechItem::Ignored; MAX_ITEMS + 5];
        assert_eq!(
            plan(&items),
            Err(PlanError::TooManyItems {
                count: MAX_ITEMS + 5,
                max: MAX_ITEMS
            })
        );
    }

    #[test]
    fn every_emitted_word_has_a_prompt_and_every_prompt_is_used() {
        // A corpus exercising every reading rule; every word it emits must have an
        // embedded prompt, and every prompt must be reachable from some reading.
        let corpus: &[(i64, &str)] = &[
            (1, "0123456789"),
            (2, "-1234567890123.25"),
            (2, "20000"),
            (2, "200000000"),
            (3, "1086.30"),
            (6, "1086.35"),
            (6, "10"),
            (4, "2012-9-8 2:5:3"),
            (4, "12:00"),
            (5, "2:22:22"),
        ];
        let mut used = std::collections::BTreeSet::new();
        for &(kind, content) in corpus {
            let steps = plan_seed([(kind, content)]).unwrap_or_else(|e| panic!("{e}"));
            for w in words_of(&steps) {
                assert!(!embedded(w).is_empty(), "{w:?} has no embedded prompt");
                assert!(PROMPT_FILES.iter().any(|(pw, _)| *pw == w), "{w:?}");
                used.insert(w);
            }
        }
        let all: std::collections::BTreeSet<Word> = Word::ALL.into_iter().collect();
        assert_eq!(used, all, "prompts never used: {:?}", all.difference(&used));
    }
}
