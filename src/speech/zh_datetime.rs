//! Mandarin reading rules for dates, times of day (content type 4) and durations (type 5).
//!
//! Type 4 formats, as in the seed: `YYYY-mm-dd HH:MM:SS`, `YYYY-mm-dd HH:MM`,
//! `YYYY-mm-dd`, `YYYY-mm`, `HH:MM:SS`, `HH:MM` (`2012-9-8 1:5:3` → 二零一二年九月八日一点五分三秒).
//! Decisions:
//! - The date and the time are separated by one or more blanks or by `T`. The year has
//!   exactly four digits (0001..9999); other fields one to four digits, leading zeros
//!   allowed. Ranges: month 1..12, day 1..(days of that month, Gregorian leap years),
//!   hour 0..23, minute 0..59, second 0..59.
//! - Year digit by digit (二零一二年); month and day as cardinal numbers (二月, 二十日).
//! - Hour as a quantity: 2 is 两点, 0 is 零点, 12 十二点, 22 二十二点.
//! - Minute and second as cardinal numbers (一点二分, 一点五分三秒). Zeros: `HH:MM` with
//!   minute 0 and `HH:MM:SS` with minute and second 0 read 点整 (12:00 十二点整); a zero
//!   second after a non-zero minute is silent (1:05:00 一点五分); a zero minute before a
//!   non-zero second reads 零分 (1:00:05 一点零分五秒).
//!
//! Type 5 formats: `HH:MM:SS`, `HH:MM`, each field 0..99 (`1:5:3` → 一小时五分钟三秒).
//! Decisions: each field as a quantity (2 is 两小时, 两分钟, 两秒; 12 十二; 22 二十二); zero
//! fields are silent, with one 零 where silent fields sit between spoken ones
//! (1:0:3 一小时零三秒, 0:5:0 五分钟); all zero reads 零秒 (`HH:MM:SS`) or 零分钟 (`HH:MM`).

use super::zh_number::{push_cardinal, push_digits, push_quantity};
use super::{MAX_INPUT_LEN, ReadError, Word};

/// Type 4: reads a date, a time of day, or both.
pub fn read_datetime(s: &str) -> Result<Vec<Word>, ReadError> {
    let t = checked(s)?;
    let bad = || ReadError::NotDateTime(t.to_string());
    let (date, time) = if t.contains('-') {
        match t.split_once([' ', 'T']) {
            Some((d, rest)) => {
                let rest = rest.trim_start();
                if rest.is_empty() {
                    return Err(bad());
                }
                (Some(d), Some(rest))
            }
            None => (Some(t), None),
        }
    } else {
        (None, Some(t))
    };
    let mut out = Vec::new();
    if let Some(date) = date {
        push_date(date, bad(), &mut out)?;
    }
    if let Some(time) = time {
        push_time(time, bad(), &mut out)?;
    }
    Ok(out)
}

/// Type 5: reads a duration `HH:MM:SS` or `HH:MM`.
pub fn read_duration(s: &str) -> Result<Vec<Word>, ReadError> {
    let t = checked(s)?;
    let fields =
        split_fields(t, ':', 2..=3).ok_or_else(|| ReadError::NotDuration(t.to_string()))?;
    const NAMES: [&str; 3] = ["hours", "minutes", "seconds"];
    const UNITS: [Word; 3] = [Word::XiaoShi, Word::FenZhong, Word::Miao];
    let mut out = Vec::new();
    let mut skipped = false;
    for (i, &v) in fields.iter().enumerate() {
        in_range(NAMES[i], v, 0, 99)?;
        if v == 0 {
            skipped |= !out.is_empty();
            continue;
        }
        if skipped {
            out.push(Word::Zero);
            skipped = false;
        }
        push_quantity(u64::from(v), &mut out);
        out.push(UNITS[i]);
    }
    if out.is_empty() {
        out.extend([Word::Zero, UNITS[fields.len() - 1]]);
    }
    Ok(out)
}

/// Trims `s` and checks it is neither empty nor too long.
fn checked(s: &str) -> Result<&str, ReadError> {
    let t = s.trim();
    if t.is_empty() {
        Err(ReadError::Empty)
    } else if t.len() > MAX_INPUT_LEN {
        Err(ReadError::TooLong { max: MAX_INPUT_LEN })
    } else {
        Ok(t)
    }
}

/// `YYYY-mm` or `YYYY-mm-dd`; `bad` is the error for a malformed date.
fn push_date(date: &str, bad: ReadError, out: &mut Vec<Word>) -> Result<(), ReadError> {
    let year_text = date.split('-').next().unwrap_or_default();
    if year_text.len() != 4 {
        return Err(bad);
    }
    let f = split_fields(date, '-', 2..=3).ok_or(bad)?;
    in_range("year", f[0], 1, 9999)?;
    in_range("month", f[1], 1, 12)?;
    push_digits(year_text, out);
    out.push(Word::Nian);
    push_cardinal(u64::from(f[1]), out);
    out.push(Word::Yue);
    if let Some(&day) = f.get(2) {
        in_range("day", day, 1, days_in_month(f[0], f[1]))?;
        push_cardinal(u64::from(day), out);
        out.push(Word::Ri);
    }
    Ok(())
}

/// `HH:MM` or `HH:MM:SS` as a time of day; `bad` is the error for a malformed time.
fn push_time(time: &str, bad: ReadError, out: &mut Vec<Word>) -> Result<(), ReadError> {
    let f = split_fields(time, ':', 2..=3).ok_or(bad)?;
    let (h, m) = (f[0], f[1]);
    let s = f.get(2).copied().unwrap_or(0);
    in_range("hour", h, 0, 23)?;
    in_range("minute", m, 0, 59)?;
    in_range("second", s, 0, 59)?;
    push_quantity(u64::from(h), out);
    out.push(Word::Dian);
    if m == 0 && s == 0 {
        out.push(Word::Zheng);
        return Ok(());
    }
    push_cardinal(u64::from(m), out);
    out.push(Word::Fen);
    if s != 0 {
        push_cardinal(u64::from(s), out);
        out.push(Word::Miao);
    }
    Ok(())
}

/// Splits `s` at `sep` into `count` fields of 1..=4 ASCII digits each.
fn split_fields(s: &str, sep: char, count: std::ops::RangeInclusive<usize>) -> Option<Vec<u32>> {
    let fields: Vec<&str> = s.split(sep).collect();
    if !count.contains(&fields.len()) {
        return None;
    }
    fields
        .into_iter()
        .map(|f| {
            let ok = (1..=4).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit());
            ok.then(|| f.parse().ok()).flatten()
        })
        .collect()
}

fn in_range(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), ReadError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ReadError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::super::to_hanzi;
    use super::*;

    fn check(f: fn(&str) -> Result<Vec<Word>, ReadError>, cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            match f(input) {
                Ok(words) => assert_eq!(to_hanzi(&words), *expected, "input {input:?}"),
                Err(e) => panic!("input {input:?}: {e}"),
            }
        }
    }

    #[test]
    fn seed_examples_of_dates_and_times() {
        check(
            read_datetime,
            &[
                ("2012-9-8 1:5:3", "二零一二年九月八日一点五分三秒"),
                (
                    "1980-01-01 01:23:35",
                    "一九八零年一月一日一点二十三分三十五秒",
                ),
                ("2012-9-8 1:5", "二零一二年九月八日一点五分"),
                ("1980-01-01 01:23", "一九八零年一月一日一点二十三分"),
                ("2012-9-8", "二零一二年九月八日"),
                ("1980-01-01", "一九八零年一月一日"),
                ("2012-9", "二零一二年九月"),
                ("1980-01", "一九八零年一月"),
                ("1:5:3", "一点五分三秒"),
                ("01:23:35", "一点二十三分三十五秒"),
                ("1:5", "一点五分"),
                ("01:23", "一点二十三分"),
                ("2016-09-02", "二零一六年九月二日"),
            ],
        );
    }

    #[test]
    fn dates_and_times_beyond_the_seed() {
        check(
            read_datetime,
            &[
                ("2:00", "两点整"),
                ("02:02", "两点二分"),
                ("0:00", "零点整"),
                ("00:30", "零点三十分"),
                ("12:00", "十二点整"),
                ("12:00:00", "十二点整"),
                ("22:22:22", "二十二点二十二分二十二秒"),
                ("10:10:10", "十点十分十秒"),
                ("1:05:00", "一点五分"),
                ("1:00:05", "一点零分五秒"),
                ("23:59:59", "二十三点五十九分五十九秒"),
                ("2000-02-29", "二零零零年二月二十九日"),
                ("2024-2-29", "二零二四年二月二十九日"),
                ("2010-10-10", "二零一零年十月十日"),
                (
                    "1999-12-31 23:59:59",
                    "一九九九年十二月三十一日二十三点五十九分五十九秒",
                ),
                ("2020-11-20T20:20", "二零二零年十一月二十日二十点二十分"),
                ("  2020-01-02   03:04  ", "二零二零年一月二日三点四分"),
                ("0001-1", "零零零一年一月"),
            ],
        );
    }

    #[test]
    fn malformed_dates_and_times() {
        for s in [
            "2012",
            "12",
            "2012-",
            "2012-9-8-1",
            "12-9-8",
            "20120-9-8",
            "2012/9/8",
            "2012-9-8 1",
            "2012-9-8 1:2:3:4",
            "1:2:3:4",
            "1::2",
            ":5",
            "a:b",
            "2012-a",
            "1:5 pm",
            "2012-9-8 1:5:3 x",
            "−1:5",
            "2012-9-8T",
        ] {
            let r = read_datetime(s);
            assert_eq!(
                r,
                Err(ReadError::NotDateTime(s.trim().to_string())),
                "{s:?}"
            );
        }
        assert_eq!(read_datetime(" "), Err(ReadError::Empty));
    }

    #[test]
    fn out_of_range_dates_and_times() {
        let cases = [
            ("0000-01-01", "year", 0, 1, 9999),
            ("2012-13-01", "month", 13, 1, 12),
            ("2012-0", "month", 0, 1, 12),
            ("2012-1-0", "day", 0, 1, 31),
            ("2012-4-31", "day", 31, 1, 30),
            ("2023-2-29", "day", 29, 1, 28),
            ("1900-2-29", "day", 29, 1, 28),
            ("2024-2-30", "day", 30, 1, 29),
            ("24:00", "hour", 24, 0, 23),
            ("23:60", "minute", 60, 0, 59),
            ("23:59:60", "second", 60, 0, 59),
            ("2012-1-1 25:00", "hour", 25, 0, 23),
        ];
        for (s, field, value, min, max) in cases {
            let expected = ReadError::OutOfRange {
                field,
                value,
                min,
                max,
            };
            assert_eq!(read_datetime(s), Err(expected), "{s:?}");
        }
    }

    #[test]
    fn seed_examples_of_durations() {
        check(
            read_duration,
            &[
                ("1:5:3", "一小时五分钟三秒"),
                ("01:23:35", "一小时二十三分钟三十五秒"),
                ("1:5", "一小时五分钟"),
                ("01:23", "一小时二十三分钟"),
            ],
        );
    }

    #[test]
    fn durations_beyond_the_seed() {
        check(
            read_duration,
            &[
                ("2:2:2", "两小时两分钟两秒"),
                ("12:22:20", "十二小时二十二分钟二十秒"),
                ("0:5:0", "五分钟"),
                ("0:0:5", "五秒"),
                ("1:0:3", "一小时零三秒"),
                ("1:0:0", "一小时"),
                ("1:0", "一小时"),
                ("0:0:0", "零秒"),
                ("0:0", "零分钟"),
                ("00:00", "零分钟"),
                ("99:99:99", "九十九小时九十九分钟九十九秒"),
                ("10:10", "十小时十分钟"),
                (" 0:30 ", "三十分钟"),
            ],
        );
    }

    #[test]
    fn malformed_and_out_of_range_durations() {
        for s in [
            "1", "1:2:3:4", "1:", ":1", "a:1", "1.5:2", "-1:2", "1 :2", "12345:1",
        ] {
            assert_eq!(
                read_duration(s),
                Err(ReadError::NotDuration(s.to_string())),
                "{s:?}"
            );
        }
        for (s, field, value) in [
            ("100:0", "hours", 100),
            ("0:100", "minutes", 100),
            ("0:0:100", "seconds", 100),
        ] {
            let expected = ReadError::OutOfRange {
                field,
                value,
                min: 0,
                max: 99,
            };
            assert_eq!(read_duration(s), Err(expected), "{s:?}");
        }
        assert_eq!(read_duration(""), Err(ReadError::Empty));
    }
}
