//! Play content (`play_start`'s `content`, `receive_dtmf_start`'s `play_content`,
//! `sys.conf.play_start`'s `content`): decoding and validation straight into the
//! speech layer's typed items ([`SpeechItem`]), numbers and dates through its grammars
//! ([`crate::speech::decimal`], [`crate::speech::calendar`]).
//!
//! The wire form (seed, `play_start`): a string (one file name), or a list of at
//! most [`MAX_CONTENT_ITEMS`] triples `[content, type, options]`. Decisions:
//! - `options` (the seed never says what it holds) may be a string or null and
//!   may be left out (`[content, type]`); it is checked and dropped.
//! - an item of negative type is ignored as the seed says: its shape is checked,
//!   then it is dropped, so a decoded list may be empty (nothing to play).
//! - an empty list is refused.
//! - numbers are exact decimals (`"1086.30"` keeps its trailing zero);
//!   JSON numbers are accepted where the seed says "integer or float", but not
//!   in exponent form. Integer parts have at most 16 digits, fractions at most 8.
//! - type 6 (amount in yuan/jiao/fen) and type 10 (TTS) are accepted (API.md
//!   implements them; type 10 fails later with -32005 where no TTS is configured).

use serde_json::Value;

use super::errors::RpcError;
use super::jsonrpc::kind_of;
use super::params::check_file_name;
use crate::speech::{
    Decimal, DecimalError, MAX_FRAC_DIGITS, MAX_INT_DIGITS, SpeechItem, parse_datetime,
    parse_decimal, parse_duration,
};

/// Most items in a content list (seed).
pub const MAX_CONTENT_ITEMS: usize = 30;
/// Most file names in one type 7 item.
pub const MAX_MULTI_FILES: usize = 30;
/// Longest type 1 digit string.
pub const MAX_DIGITS: usize = 64;
/// Longest type 10 text (bytes).
pub const MAX_TTS_LEN: usize = 4096;

/// What to play, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayContent {
    /// The items; empty when every item of the list was of a negative (ignored) type.
    pub items: Vec<SpeechItem>,
}

const TYPE4_FORMS: &str =
    "YYYY-mm-dd HH:MM:SS, YYYY-mm-dd HH:MM, YYYY-mm-dd, YYYY-mm, HH:MM:SS or HH:MM";

/// Decodes the value of the content parameter `param`; every error is a -32602
/// naming `param` (and the list index where an item is at fault).
pub fn decode_content(param: &str, v: Value) -> Result<PlayContent, RpcError> {
    match v {
        Value::String(s) => {
            check_file_name(&s).map_err(|e| RpcError::invalid_param(param, e))?;
            Ok(PlayContent {
                items: vec![SpeechItem::File(s)],
            })
        }
        Value::Array(list) => {
            if list.is_empty() {
                return Err(RpcError::invalid_param(param, "empty content list"));
            }
            if list.len() > MAX_CONTENT_ITEMS {
                return Err(RpcError::invalid_param(
                    param,
                    format!("at most {MAX_CONTENT_ITEMS} items, got {}", list.len()),
                ));
            }
            let mut items = Vec::with_capacity(list.len());
            for (i, el) in list.into_iter().enumerate() {
                if let Some(item) =
                    decode_item(el).map_err(|e| RpcError::invalid_param_item(param, i, e))?
                {
                    items.push(item);
                }
            }
            Ok(PlayContent { items })
        }
        other => Err(RpcError::invalid_param(
            param,
            format!(
                "expected a file name string or a list of [content, type, options], got {}",
                kind_of(&other)
            ),
        )),
    }
}

/// One `[content, type, options]` element; `Ok(None)` for an ignored type.
fn decode_item(el: Value) -> Result<Option<SpeechItem>, String> {
    let mut parts = match el {
        Value::Array(a) if (2..=3).contains(&a.len()) => a.into_iter(),
        other => {
            return Err(format!(
                "expected [content, type, options], got {}",
                describe(&other)
            ));
        }
    };
    let content = parts.next().unwrap_or(Value::Null);
    let ty = parts.next().unwrap_or(Value::Null);
    match parts.next() {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(other) => {
            return Err(format!("options must be a string, got {}", kind_of(&other)));
        }
    }
    let ty = match &ty {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("type must be an integer, got {n}"))?,
        other => return Err(format!("type must be an integer, got {}", kind_of(other))),
    };
    if !matches!(content, Value::String(_) | Value::Number(_)) {
        return Err(format!(
            "content must be a string or a number, got {}",
            kind_of(&content)
        ));
    }
    if ty < 0 {
        return Ok(None);
    }
    let item = match ty {
        0 => {
            let s = text(content, 0)?;
            check_file_name(&s).map_err(|e| format!("type 0: {e}"))?;
            SpeechItem::File(s)
        }
        1 => SpeechItem::Digits(digits(content)?),
        2 => SpeechItem::Number(decimal(content, 2, true)?),
        3 => SpeechItem::Amount(decimal(content, 3, false)?),
        6 => SpeechItem::AmountYuan(decimal(content, 6, false)?),
        4 => {
            let s = text(content, 4)?;
            let (date, time) = parse_datetime(&s)
                .map_err(|why| format!("type 4 expects {TYPE4_FORMS}; got {s:?} ({why})"))?;
            SpeechItem::DateTime { date, time }
        }
        5 => {
            let s = text(content, 5)?;
            SpeechItem::Duration(parse_duration(&s).map_err(|why| {
                format!("type 5 expects HH:MM:SS or HH:MM, each field 0..=99; got {s:?} ({why})")
            })?)
        }
        7 => {
            let s = text(content, 7)?;
            let names: Vec<String> = s.split('|').map(str::to_string).collect();
            if names.len() > MAX_MULTI_FILES {
                return Err(format!(
                    "type 7: at most {MAX_MULTI_FILES} file names, got {}",
                    names.len()
                ));
            }
            for (k, n) in names.iter().enumerate() {
                check_file_name(n)
                    .map_err(|e| format!("type 7 expects names separated by '|': name {k}: {e}"))?;
            }
            SpeechItem::Files(names)
        }
        10 => {
            let s = text(content, 10)?;
            if s.trim().is_empty() {
                return Err("type 10: empty text".to_string());
            }
            if s.len() > MAX_TTS_LEN {
                return Err(format!(
                    "type 10: at most {MAX_TTS_LEN} bytes of text, got {}",
                    s.len()
                ));
            }
            SpeechItem::Tts(s)
        }
        other => {
            return Err(format!(
                "unknown type {other} (expected 0..=7, 10, or negative to skip)"
            ));
        }
    };
    Ok(Some(item))
}

fn describe(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("an array of {} elements", a.len()),
        other => kind_of(other).to_string(),
    }
}

/// The content as a string (types whose content must be text).
fn text(content: Value, ty: i64) -> Result<String, String> {
    match content {
        Value::String(s) => Ok(s),
        other => Err(format!(
            "type {ty} expects a string content, got {}",
            kind_of(&other)
        )),
    }
}

/// Type 1: a non-negative integer or a string of decimal digits.
fn digits(content: Value) -> Result<String, String> {
    let s = match content {
        Value::String(s) => s,
        Value::Number(n) if n.is_u64() => n.to_string(),
        Value::Number(n) => {
            return Err(format!("type 1 expects digits only, got {n}"));
        }
        other => return Err(format!("type 1 expects digits, got {}", kind_of(&other))),
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("type 1 expects digits only, got {s:?}"));
    }
    if s.len() > MAX_DIGITS {
        return Err(format!(
            "type 1: at most {MAX_DIGITS} digits, got {}",
            s.len()
        ));
    }
    Ok(s)
}

/// Types 2, 3, 6: an exact decimal `[-]D+[.D+]`, from a string or a JSON number.
fn decimal(content: Value, ty: i64, allow_negative: bool) -> Result<Decimal, String> {
    let s = match content {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        other => {
            return Err(format!(
                "type {ty} expects a number, got {}",
                kind_of(&other)
            ));
        }
    };
    let expect = if allow_negative {
        "a decimal number like -12.5"
    } else {
        "a non-negative decimal number like 1086.30"
    };
    parse_decimal(&s, allow_negative).map_err(|e| match e {
        DecimalError::Malformed => format!("type {ty} expects {expect}, got {s:?}"),
        DecimalError::TooManyDigits => format!(
            "type {ty}: at most {MAX_INT_DIGITS} integer and {MAX_FRAC_DIGITS} fraction digits, got {s:?}"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::{Date, TimeOfDay, TimeSpan};
    use serde_json::json;

    fn dec(negative: bool, int: &str, frac: &str) -> Decimal {
        Decimal {
            negative,
            int: int.into(),
            frac: frac.into(),
        }
    }

    fn items(v: Value) -> Vec<SpeechItem> {
        decode_content("content", v)
            .unwrap_or_else(|e| panic!("{}", e.message))
            .items
    }

    fn err(v: Value) -> RpcError {
        decode_content("content", v).expect_err("refused")
    }

    fn one(content: Value, ty: i64) -> Result<SpeechItem, String> {
        match decode_content("content", json!([[content, ty, ""]])) {
            Ok(mut c) => c.items.pop().ok_or_else(|| "nothing".to_string()),
            Err(e) => Err(e.message),
        }
    }

    #[test]
    fn seed_example() {
        let got = items(json!([
            ["welcome.wav|tile.wav", 7, ""],
            ["2016-09-02", 4, ""],
            ["your_amount_is.wav", 0, ""],
            ["1086.30", 3, ""]
        ]));
        assert_eq!(
            got,
            vec![
                SpeechItem::Files(vec!["welcome.wav".into(), "tile.wav".into()]),
                SpeechItem::DateTime {
                    date: Some(Date {
                        year: 2016,
                        month: 9,
                        day: Some(2)
                    }),
                    time: None
                },
                SpeechItem::File("your_amount_is.wav".into()),
                SpeechItem::Amount(dec(false, "1086", "30")),
            ]
        );
    }

    #[test]
    fn plain_string_is_one_file() {
        assert_eq!(
            items(json!("a.wav")),
            vec![SpeechItem::File("a.wav".into())]
        );
        assert_eq!(err(json!("")).param(), Some("content"));
        let e = err(json!(5));
        assert!(e.message.contains("got a number"), "{}", e.message);
    }

    #[test]
    fn list_bounds_and_shapes() {
        assert!(err(json!([])).message.contains("empty"));
        let many: Vec<Value> = (0..31).map(|_| json!(["a.wav", 0, ""])).collect();
        assert!(err(Value::Array(many)).message.contains("at most 30"));
        let thirty: Vec<Value> = (0..30).map(|_| json!(["a.wav", 0, ""])).collect();
        assert_eq!(items(Value::Array(thirty)).len(), 30);
        // Options may be left out or null.
        assert_eq!(
            items(json!([["a.wav", 0]])),
            vec![SpeechItem::File("a.wav".into())]
        );
        assert_eq!(items(json!([["a.wav", 0, null]])).len(), 1);
        // Errors name the element.
        for (bad, why) in [
            (
                json!(["a.wav"]),
                "expected [content, type, options], got an array of 1",
            ),
            (json!(["a.wav", 0, "", 4]), "an array of 4"),
            (json!("a.wav"), "got a string"),
            (json!(["a.wav", "0", ""]), "type must be an integer"),
            (json!(["a.wav", 0.5, ""]), "type must be an integer"),
            (json!(["a.wav", 0, 1]), "options must be a string"),
            (json!([null, 0, ""]), "content must be a string or a number"),
            (
                json!([["x"], -1, ""]),
                "content must be a string or a number",
            ),
            (json!(["a.wav", 8, ""]), "unknown type 8"),
            (json!(["a.wav", 11, ""]), "unknown type 11"),
        ] {
            let e = err(json!([["ok.wav", 0, ""], bad]));
            assert_eq!(e.data, Some(json!({"param": "content", "index": 1})));
            assert!(
                e.message.starts_with("invalid params: content[1]: "),
                "{}",
                e.message
            );
            assert!(e.message.contains(why), "{}: {}", why, e.message);
        }
    }

    #[test]
    fn negative_types_are_skipped() {
        assert_eq!(
            items(json!([["x", -1, ""], ["a.wav", 0, ""], [5, -7, ""]])),
            vec![SpeechItem::File("a.wav".into())]
        );
        assert_eq!(items(json!([["x", -1, ""]])), vec![]);
    }

    #[test]
    fn type_0_and_7_files() {
        assert!(
            one(json!(5), 0)
                .expect_err("number")
                .contains("string content")
        );
        assert!(one(json!(""), 0).is_err());
        assert_eq!(
            one(json!("a|b|c"), 7),
            Ok(SpeechItem::Files(vec!["a".into(), "b".into(), "c".into()]))
        );
        assert_eq!(one(json!("a"), 7), Ok(SpeechItem::Files(vec!["a".into()])));
        for bad in ["", "a||b", "|a", "a|"] {
            assert!(
                one(json!(bad), 7).expect_err(bad).contains("type 7"),
                "{bad}"
            );
        }
        let too_many = vec!["a"; MAX_MULTI_FILES + 1].join("|");
        assert!(one(json!(too_many), 7).is_err());
    }

    #[test]
    fn type_1_digits() {
        assert_eq!(one(json!("0123"), 1), Ok(SpeechItem::Digits("0123".into())));
        assert_eq!(one(json!(95588), 1), Ok(SpeechItem::Digits("95588".into())));
        for bad in [
            json!("12a"),
            json!(""),
            json!("-1"),
            json!(-1),
            json!(1.5),
            json!("1 2"),
            json!("+1"),
            json!("1.5"),
            json!("１２"),
            json!("12#"),
            json!("*"),
        ] {
            assert!(
                one(bad.clone(), 1).expect_err("bad").contains("type 1"),
                "{bad}"
            );
        }
        assert!(one(json!("1".repeat(MAX_DIGITS + 1)), 1).is_err());
    }

    #[test]
    fn types_2_3_6_decimals() {
        assert_eq!(
            one(json!("-12.50"), 2),
            Ok(SpeechItem::Number(dec(true, "12", "50")))
        );
        assert_eq!(
            one(json!(-3), 2),
            Ok(SpeechItem::Number(dec(true, "3", "")))
        );
        assert_eq!(
            one(json!("007"), 2),
            Ok(SpeechItem::Number(dec(false, "7", "")))
        );
        assert_eq!(
            one(json!(1086.3), 3),
            Ok(SpeechItem::Amount(dec(false, "1086", "3")))
        );
        assert_eq!(
            one(json!("0.05"), 6),
            Ok(SpeechItem::AmountYuan(dec(false, "", "05")))
        );
        assert_eq!(
            one(json!(12), 6),
            Ok(SpeechItem::AmountYuan(dec(false, "12", "")))
        );
        for ty in [3, 6] {
            assert!(
                one(json!("-1"), ty)
                    .expect_err("neg")
                    .contains("non-negative")
            );
            assert!(one(json!(-1.5), ty).is_err());
        }
        for bad in ["", "1.", ".5", "1.2.3", "1e5", "+1", "--1", "1,000", " 1"] {
            assert!(
                one(json!(bad), 2).expect_err(bad).contains("type 2"),
                "{bad}"
            );
        }
        // A JSON number that serializes with an exponent is refused, not misread.
        assert!(one(json!(1e300), 2).is_err());
        assert!(one(json!("1".repeat(MAX_INT_DIGITS + 1)), 2).is_err());
        assert!(one(json!(format!("1.{}", "5".repeat(MAX_FRAC_DIGITS + 1))), 3).is_err());
        assert!(one(json!(true), 2).is_err());
    }

    fn dt(y: u16, mo: u8, d: Option<u8>) -> Option<Date> {
        Some(Date {
            year: y,
            month: mo,
            day: d,
        })
    }

    fn tm(h: u8, m: u8, s: Option<u8>) -> Option<TimeOfDay> {
        Some(TimeOfDay {
            hour: h,
            minute: m,
            second: s,
        })
    }

    #[test]
    fn type_4_datetime_forms() {
        for (s, date, time) in [
            ("2012-9-8 1:5:3", dt(2012, 9, Some(8)), tm(1, 5, Some(3))),
            (
                "1980-01-01 01:23:35",
                dt(1980, 1, Some(1)),
                tm(1, 23, Some(35)),
            ),
            ("2012-9-8 1:5", dt(2012, 9, Some(8)), tm(1, 5, None)),
            ("2012-9-8", dt(2012, 9, Some(8)), None),
            ("1980-01", dt(1980, 1, None), None),
            ("1:5:3", None, tm(1, 5, Some(3))),
            ("23:59", None, tm(23, 59, None)),
            ("2024-02-29", dt(2024, 2, Some(29)), None),
            ("2000-02-29", dt(2000, 2, Some(29)), None),
        ] {
            assert_eq!(
                one(json!(s), 4),
                Ok(SpeechItem::DateTime { date, time }),
                "{s}"
            );
        }
        for (bad, why) in [
            ("2016-13-01", "month 13"),
            ("2016-00-01", "month 0"),
            ("2023-02-29", "day 29 not in 1..=28"),
            ("1900-02-29", "day 29"),
            ("2016-04-31", "day 31 not in 1..=30"),
            ("2016-01-00", "day 0"),
            ("24:00", "hour 24"),
            ("12:60", "60"),
            ("12:00:60", "60"),
            ("16-01-01", "bad field"),
            ("2016-1-1-1", "4 field(s)"),
            ("2016", "neither"),
            ("2016-01 10:00", "2 field(s)"),
            ("2016-01-01  10:00", "bad field"),
            ("10:00 2016-01-01", "1 field(s)"),
            ("2016-01-01T10:00", "bad field"),
            ("1:2:3:4", "4 field(s)"),
            ("", "neither"),
            ("0000-01", "year 0"),
        ] {
            let e = one(json!(bad), 4).expect_err(bad);
            assert!(e.contains("type 4 expects YYYY-mm-dd"), "{bad}: {e}");
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(
            one(json!(20160101), 4)
                .expect_err("number")
                .contains("string content")
        );
    }

    #[test]
    fn type_5_durations() {
        assert_eq!(
            one(json!("1:5:3"), 5),
            Ok(SpeechItem::Duration(TimeSpan {
                hours: 1,
                minutes: 5,
                seconds: Some(3)
            }))
        );
        assert_eq!(
            one(json!("99:99"), 5),
            Ok(SpeechItem::Duration(TimeSpan {
                hours: 99,
                minutes: 99,
                seconds: None
            }))
        );
        for bad in ["100:00", "1", "1:2:3:4", "a:b", "1:-2", "", "01:023"] {
            let e = one(json!(bad), 5).expect_err(bad);
            assert!(e.contains("type 5 expects HH:MM:SS or HH:MM"), "{bad}: {e}");
        }
    }

    #[test]
    fn type_10_tts() {
        assert_eq!(one(json!("您好"), 10), Ok(SpeechItem::Tts("您好".into())));
        assert!(one(json!("  "), 10).is_err());
        assert!(one(json!("字".repeat(MAX_TTS_LEN)), 10).is_err());
    }
}
