//! Turns the items of a `play_start` content list into what to play, in order: files,
//! prompt words and text to synthesise.
//!
//! The items are typed values ([`SpeechItem`]): the API decodes the seed's content list
//! straight into them (with the grammars of [`super::decimal`] and [`super::calendar`]),
//! dropping items of negative type. Decisions: file names (types 0 and 7) are passed
//! through trimmed of surrounding blanks (checking them against the media roots is the
//! caller's job); a blank name is an error, not skipped; type 10 text is passed on
//! untouched but must not be blank. At most [`MAX_ITEMS`] items (seed: 最多30个元素).

use super::calendar::{Date, TimeOfDay, TimeSpan};
use super::decimal::Decimal;
use super::{PlanError, ReadError, Word, zh_datetime, zh_number};

/// Most items a content list may hold.
pub const MAX_ITEMS: usize = 30;

/// One item of a `play_start` content list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeechItem {
    /// Type 0: one file name.
    File(String),
    /// Type 1: a digit string (ASCII digits), read digit by digit.
    Digits(String),
    /// Type 2: a decimal number.
    Number(Decimal),
    /// Type 3: an amount, read as a number of 元.
    Amount(Decimal),
    /// Type 4: a date and/or time of day.
    DateTime {
        /// The date part, if any.
        date: Option<Date>,
        /// The time part, if any.
        time: Option<TimeOfDay>,
    },
    /// Type 5: a duration.
    Duration(TimeSpan),
    /// Type 6: an amount read in 元角分.
    AmountYuan(Decimal),
    /// Type 7: several file names, played one after the other.
    Files(Vec<String>),
    /// Type 10: text to synthesise.
    Tts(String),
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
    /// Appends this item's steps to `out`.
    fn plan_into(&self, out: &mut Vec<PlayStep>) -> Result<(), ReadError> {
        let words = match self {
            SpeechItem::File(name) => {
                out.push(PlayStep::File(file_name(name).ok_or(ReadError::Empty)?));
                return Ok(());
            }
            SpeechItem::Files(list) => {
                if list.is_empty() {
                    return Err(ReadError::Empty);
                }
                let start = out.len();
                for (i, name) in list.iter().enumerate() {
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
            SpeechItem::Digits(s) => zh_number::read_digits(s),
            SpeechItem::Number(d) => zh_number::read_number(d),
            SpeechItem::Amount(d) => zh_number::read_amount(d),
            SpeechItem::AmountYuan(d) => zh_number::read_amount_yuan(d),
            SpeechItem::DateTime { date, time } => zh_datetime::read_datetime(*date, *time),
            SpeechItem::Duration(d) => zh_datetime::read_duration(d),
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

#[cfg(test)]
mod tests {
    use super::super::calendar::{parse_datetime, parse_duration};
    use super::super::decimal::parse_decimal;
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

    /// The item of content type `kind` for the text `content`, through the content grammar.
    fn item(kind: i64, content: &str) -> SpeechItem {
        let dec = |neg| parse_decimal(content, neg).expect(content);
        match kind {
            0 => SpeechItem::File(content.into()),
            1 => SpeechItem::Digits(content.into()),
            2 => SpeechItem::Number(dec(true)),
            3 => SpeechItem::Amount(dec(false)),
            4 => {
                let (date, time) = parse_datetime(content).expect(content);
                SpeechItem::DateTime { date, time }
            }
            5 => SpeechItem::Duration(parse_duration(content).expect(content)),
            6 => SpeechItem::AmountYuan(dec(false)),
            7 => SpeechItem::Files(content.split('|').map(str::to_string).collect()),
            10 => SpeechItem::Tts(content.into()),
            k => panic!("type {k}"),
        }
    }

    fn plan_of(items: &[(i64, &str)]) -> Result<Vec<PlayStep>, PlanError> {
        plan(&items.iter().map(|&(k, c)| item(k, c)).collect::<Vec<_>>())
    }

    #[test]
    fn seed_example_content() {
        let steps = plan_of(&[
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
            (4, "0001-01-01", "零零零一年一月一日"),
        ];
        for (kind, content, expected) in cases {
            let steps = plan_of(&[(kind, content)]).unwrap_or_else(|e| panic!("{e}"));
            assert!(steps.iter().all(|s| matches!(s, PlayStep::Prompt(_))));
            assert_eq!(
                to_hanzi(&words_of(&steps)),
                expected,
                "type {kind} {content:?}"
            );
        }
    }

    #[test]
    fn files_and_tts() {
        let steps = plan(&[
            SpeechItem::File(" a.wav ".into()),
            SpeechItem::Files(vec!["b.wav ".into(), " sub/c.wav".into(), "d.wav".into()]),
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
        assert_eq!(plan(&[]), Ok(vec![]));
    }

    #[test]
    fn errors_name_the_item() {
        let err = |index, source| Err(PlanError::Item { index, source });
        assert_eq!(plan_of(&[(0, "a.wav"), (0, " ")]), err(1, ReadError::Empty));
        assert_eq!(plan_of(&[(10, "")]), err(0, ReadError::Empty));
        assert_eq!(plan_of(&[(10, " \t")]), err(0, ReadError::Empty));
        assert_eq!(plan(&[SpeechItem::Files(vec![])]), err(0, ReadError::Empty));
        assert_eq!(
            plan_of(&[(7, "a.wav| |b.wav")]),
            err(0, ReadError::EmptyFileName(1))
        );
        assert_eq!(
            plan_of(&[(1, "1"), (7, "a.wav|")]),
            err(1, ReadError::EmptyFileName(1))
        );
        let msg = plan_of(&[(0, "a"), (7, "x|")]).map_err(|e| e.to_string());
        assert_eq!(
            msg,
            Err("content[1]: empty file name at position 1 of the file list".into())
        );
    }

    #[test]
    fn item_count_is_bounded() {
        let ok: Vec<_> = (0..MAX_ITEMS).map(|_| (1, "1")).collect();
        assert_eq!(plan_of(&ok).map(|s| s.len()), Ok(MAX_ITEMS));
        let items = vec![SpeechItem::Digits("1".into()); MAX_ITEMS + 5];
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
            let steps = plan_of(&[(kind, content)]).unwrap_or_else(|e| panic!("{e}"));
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
