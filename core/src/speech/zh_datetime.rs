//! Mandarin reading rules for dates, times of day (content type 4) and durations (type 5).
//!
//! The values come from [`super::calendar`] (its grammar: the seed's six type 4 forms,
//! `2012-9-8 1:5:3` → 二零一二年九月八日一点五分三秒). Decisions:
//! - Year digit by digit, always four (二零一二年, 0001 零零零一年); month and day as
//!   cardinal numbers (二月, 二十日).
//! - Hour as a quantity: 2 is 两点, 0 is 零点, 12 十二点, 22 二十二点.
//! - Minute and second as cardinal numbers (一点二分, 一点五分三秒). Zeros: `HH:MM` with
//!   minute 0 and `HH:MM:SS` with minute and second 0 read 点整 (12:00 十二点整); a zero
//!   second after a non-zero minute is silent (1:05:00 一点五分); a zero minute before a
//!   non-zero second reads 零分 (1:00:05 一点零分五秒).
//!
//! Type 5 (`HH:MM:SS`, `HH:MM`, each field 0..99; `1:5:3` → 一小时五分钟三秒). Decisions:
//! each field as a quantity (2 is 两小时, 两分钟, 两秒; 12 十二; 22 二十二); zero fields are
//! silent, with one 零 where silent fields sit between spoken ones
//! (1:0:3 一小时零三秒, 0:5:0 五分钟); all zero reads 零秒 (`HH:MM:SS`) or 零分钟 (`HH:MM`).

use super::Word;
use super::calendar::{Date, TimeOfDay, TimeSpan};
use super::zh_number::{push_cardinal, push_digits, push_quantity};

/// Type 4: reads a date, a time of day, or both.
pub fn read_datetime(date: Option<Date>, time: Option<TimeOfDay>) -> Vec<Word> {
    let mut out = Vec::new();
    if let Some(date) = date {
        push_date(date, &mut out);
    }
    if let Some(time) = time {
        push_time(time, &mut out);
    }
    out
}

/// Type 5: reads a duration.
pub fn read_duration(d: &TimeSpan) -> Vec<Word> {
    const UNITS: [Word; 3] = [Word::XiaoShi, Word::FenZhong, Word::Miao];
    let fields: &[u8] = match d.seconds {
        Some(s) => &[d.hours, d.minutes, s],
        None => &[d.hours, d.minutes],
    };
    let mut out = Vec::new();
    let mut skipped = false;
    for (i, &v) in fields.iter().enumerate() {
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
    out
}

/// The year digit by digit (four of them), month and day as cardinals.
fn push_date(date: Date, out: &mut Vec<Word>) {
    push_digits(&format!("{:04}", date.year), out);
    out.push(Word::Nian);
    push_cardinal(u64::from(date.month), out);
    out.push(Word::Yue);
    if let Some(day) = date.day {
        push_cardinal(u64::from(day), out);
        out.push(Word::Ri);
    }
}

/// A time of day: the hour as a quantity, then 整 or the minute and second.
fn push_time(time: TimeOfDay, out: &mut Vec<Word>) {
    let (m, s) = (time.minute, time.second.unwrap_or(0));
    push_quantity(u64::from(time.hour), out);
    out.push(Word::Dian);
    if m == 0 && s == 0 {
        out.push(Word::Zheng);
        return;
    }
    push_cardinal(u64::from(m), out);
    out.push(Word::Fen);
    if s != 0 {
        push_cardinal(u64::from(s), out);
        out.push(Word::Miao);
    }
}

#[cfg(test)]
mod tests {
    use super::super::calendar::{parse_datetime, parse_duration};
    use super::super::to_hanzi;
    use super::*;

    /// Reads each type 4 input, parsed by the content grammar.
    fn check_datetime(cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            let (d, t) = parse_datetime(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(to_hanzi(&read_datetime(d, t)), *expected, "input {input:?}");
        }
    }

    /// Reads each type 5 input, parsed by the content grammar.
    fn check_duration(cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            let d = parse_duration(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(to_hanzi(&read_duration(&d)), *expected, "input {input:?}");
        }
    }

    #[test]
    fn seed_examples_of_dates_and_times() {
        check_datetime(&[
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
        ]);
    }

    #[test]
    fn dates_and_times_beyond_the_seed() {
        check_datetime(&[
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
            ("2020-11-20 20:20", "二零二零年十一月二十日二十点二十分"),
            ("2020-01-02 03:04", "二零二零年一月二日三点四分"),
            ("0001-1", "零零零一年一月"),
        ]);
    }

    #[test]
    fn seed_examples_of_durations() {
        check_duration(&[
            ("1:5:3", "一小时五分钟三秒"),
            ("01:23:35", "一小时二十三分钟三十五秒"),
            ("1:5", "一小时五分钟"),
            ("01:23", "一小时二十三分钟"),
        ]);
    }

    #[test]
    fn durations_beyond_the_seed() {
        check_duration(&[
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
            ("0:30", "三十分钟"),
        ]);
    }
}
