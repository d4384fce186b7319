//! Mandarin reading rules for digits, numbers and money (content types 1, 2, 3 and 6).
//!
//! Decisions (the seed gives no examples for these types):
//! - Type 1, digits: each ASCII digit alone, 1 is 一 (幺 is not used).
//! - Type 2, number: the cardinal reading.
//!   - 零: one 零 for each run of zeros inside a 4-digit group (1001 一千零一); a group that
//!     follows 万/亿 and does not fill its top digit starts with 零 (10010 一万零一十,
//!     1000000001 十亿零一); zeros at the end of a group are silent (100000 十万,
//!     10001000 一千万一千).
//!   - 十: a number whose leading group is 10..19 drops the 一 (10 十, 15 十五, 100010
//!     十万零一十); elsewhere 一十 (110 一百一十).
//!   - 两: the first digit spoken in a group says 两 when it is 2 before 千 or 百 (200 两百,
//!     2000 两千, 222 两百二十二, 12000 一万两千, 20200 两万零两百); a group that is
//!     exactly 2 says 两 before 万/亿 (20000 两万, 200000000 两亿). Everywhere else 二
//!     (2 二, 12 十二, 22 二十二, 1200 一千二百, 220000 二十二万).
//!   - Groups: 万 (10^4), 亿 (10^8), then compounds (10^12 一万亿, 10^16 一亿亿). An integer
//!     part of more than [`MAX_CARDINAL_DIGITS`] digits (10^17 and above) is read digit by
//!     digit.
//!   - Decimals: 点 then each fraction digit alone, as written (3.14 三点一四,
//!     10.50 十点五零, 0.2 零点二).
//!   - Negative numbers start with 负; a zero never does (-0 reads 零, -0.0 零点零).
//! - Type 3, amount: the type 2 reading without trailing fraction zeros, then 元
//!   (1086.30 一千零八十六点三元, 10.00 十元); no rounding.
//! - Type 6, 元角分: rounded half away from zero to the fen (12.345 十二元三角五分,
//!   9.995 十元整); 元 only when there are yuan (0.05 五分); 零 between yuan and fen when
//!   there is no jiao (12.05 十二元零五分); 整 when there is neither jiao nor fen
//!   (10 十元整, 0 零元整); digits of jiao and fen say 二, yuan follow type 2 (2 二元).

use super::Word;
use super::decimal::Decimal;

/// Integer parts with at most this many digits (below 10^17) are read as numbers;
/// longer ones digit by digit.
pub const MAX_CARDINAL_DIGITS: usize = 17;

const WAN: u64 = 10_000;
const YI: u64 = 100_000_000;

/// Type 1: reads each ASCII digit of `s` alone ("13800138000" → 一三八零零一三八零零零);
/// anything else is skipped (the API accepts digits only).
pub fn read_digits(s: &str) -> Vec<Word> {
    let mut out = Vec::with_capacity(s.len());
    push_digits(s, &mut out);
    out
}

/// Type 2: the cardinal reading of a decimal number (-20300.5 → 负两万零三百点五).
pub fn read_number(d: &Decimal) -> Vec<Word> {
    let mut out = Vec::new();
    push_decimal(d, &mut out);
    out
}

/// Type 3: a number of yuan (1086.30 → 一千零八十六点三元).
pub fn read_amount(d: &Decimal) -> Vec<Word> {
    let kept = d.frac.trim_end_matches('0').len();
    let d = Decimal {
        frac: d.frac[..kept].to_string(),
        ..d.clone()
    };
    let mut out = Vec::new();
    push_decimal(&d, &mut out);
    out.push(Word::Yuan);
    out
}

/// Type 6: an amount in 元角分 (1086.30 → 一千零八十六元三角, 12.05 → 十二元零五分).
pub fn read_amount_yuan(d: &Decimal) -> Vec<Word> {
    let (yuan, jiao, fen) = round_to_fen(d);
    let mut out = Vec::new();
    let has_yuan = !yuan.is_empty();
    if d.negative && (has_yuan || jiao > 0 || fen > 0) {
        out.push(Word::Fu);
    }
    if has_yuan {
        push_integer_digits(&yuan, &mut out);
        out.push(Word::Yuan);
    }
    if jiao == 0 && fen == 0 {
        if !has_yuan {
            out.extend([Word::Zero, Word::Yuan]);
        }
        out.push(Word::Zheng);
        return out;
    }
    if jiao > 0 {
        out.extend([digit(jiao), Word::Jiao]);
    }
    if fen > 0 {
        if jiao == 0 && has_yuan {
            out.push(Word::Zero);
        }
        out.extend([digit(fen), Word::Fen]);
    }
    out
}

/// The cardinal reading of `n` (0 → 零, 10 → 十, 2 → 二, 200 → 两百).
pub fn cardinal(n: u64) -> Vec<Word> {
    let mut out = Vec::new();
    push_cardinal(n, &mut out);
    out
}

/// Appends the cardinal reading of `n` to `out`.
pub fn push_cardinal(n: u64, out: &mut Vec<Word>) {
    if n == 0 {
        out.push(Word::Zero);
    } else {
        push_positive(n, true, out);
    }
}

/// Appends `n` read as a quantity before a measure word: as [`push_cardinal`], except
/// that exactly 2 is 两 (两小时, 两点; but 十二, 二十二).
pub fn push_quantity(n: u64, out: &mut Vec<Word>) {
    if n == 2 {
        out.push(Word::Liang);
    } else {
        push_cardinal(n, out);
    }
}

/// Appends `d` read as a number (sign, integer part, 点 and fraction digits).
fn push_decimal(d: &Decimal, out: &mut Vec<Word>) {
    if d.negative && !d.is_zero() {
        out.push(Word::Fu);
    }
    push_integer_digits(&d.int, out);
    if !d.frac.is_empty() {
        out.push(Word::Dian);
        push_digits(&d.frac, out);
    }
}

/// Appends an integer given as ASCII digits without leading zeros ("" is zero): read as
/// a number up to [`MAX_CARDINAL_DIGITS`] digits, digit by digit beyond.
fn push_integer_digits(int: &str, out: &mut Vec<Word>) {
    if int.len() <= MAX_CARDINAL_DIGITS {
        // At most 17 ASCII digits always fit a u64; "" (zero) fails to parse and reads 零.
        push_cardinal(int.parse().unwrap_or(0), out);
    } else {
        push_digits(int, out);
    }
}

/// Appends each ASCII digit of `s` alone (non-digits are skipped; callers validate).
pub(super) fn push_digits(s: &str, out: &mut Vec<Word>) {
    out.extend(s.bytes().filter_map(|b| Word::digit(b.wrapping_sub(b'0'))));
}

/// Reads `n > 0`; `leading` is true when nothing has been said before it in the number.
fn push_positive(n: u64, leading: bool, out: &mut Vec<Word>) {
    if n >= YI {
        push_grouped(n, YI, Word::Yi, leading, out);
    } else if n >= WAN {
        push_grouped(n, WAN, Word::Wan, leading, out);
    } else {
        push_group(n, leading, out);
    }
}

/// Reads `n >= unit` as `high` `unit_word` `low`.
fn push_grouped(n: u64, unit: u64, unit_word: Word, leading: bool, out: &mut Vec<Word>) {
    let (high, low) = (n / unit, n % unit);
    if high == 2 {
        out.push(Word::Liang);
    } else {
        push_positive(high, leading, out);
    }
    out.push(unit_word);
    if low > 0 {
        if low < unit / 10 {
            out.push(Word::Zero);
        }
        push_positive(low, false, out);
    }
}

/// Reads one group `1..=9999` (千百十个).
fn push_group(n: u64, leading: bool, out: &mut Vec<Word>) {
    let digits = [n / 1000 % 10, n / 100 % 10, n / 10 % 10, n % 10].map(|d| d as u8);
    let mut started = false;
    let mut pending_zero = false;
    for (pos, &d) in digits.iter().enumerate() {
        if d == 0 {
            pending_zero |= started;
            continue;
        }
        if pending_zero {
            out.push(Word::Zero);
            pending_zero = false;
        }
        match pos {
            0 | 1 => {
                out.push(if d == 2 && !started {
                    Word::Liang
                } else {
                    digit(d)
                });
                out.push(if pos == 0 { Word::Qian } else { Word::Bai });
            }
            2 => {
                if !(d == 1 && !started && leading) {
                    out.push(digit(d));
                }
                out.push(Word::Shi);
            }
            _ => out.push(digit(d)),
        }
        started = true;
    }
}

fn digit(d: u8) -> Word {
    Word::digit(d).unwrap_or(Word::Zero)
}

/// Rounds half away from zero to two decimals: (yuan digits without leading zeros, jiao, fen).
fn round_to_fen(d: &Decimal) -> (String, u8, u8) {
    let f = d.frac.as_bytes();
    let at = |i: usize| f.get(i).map_or(0, |b| b.wrapping_sub(b'0'));
    let (mut yuan, mut jiao, mut fen) = (d.int.clone(), at(0), at(1));
    if at(2) >= 5 {
        fen += 1;
        if fen == 10 {
            fen = 0;
            jiao += 1;
            if jiao == 10 {
                jiao = 0;
                yuan = increment(&yuan);
            }
        }
    }
    (yuan, jiao, fen)
}

/// Adds one to a decimal digit string ("" is zero).
fn increment(s: &str) -> String {
    let mut bytes = s.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return String::from_utf8(bytes).unwrap_or_default();
        }
    }
    let mut out = String::with_capacity(s.len() + 1);
    out.push('1');
    out.push_str(&String::from_utf8(bytes).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::super::decimal::parse_decimal;
    use super::super::to_hanzi;
    use super::*;

    /// Reads each input, parsed by the content grammar, with `f`.
    fn check(f: fn(&Decimal) -> Vec<Word>, cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            let d = parse_decimal(input, true).unwrap_or_else(|e| panic!("{input:?}: {e:?}"));
            assert_eq!(to_hanzi(&f(&d)), *expected, "input {input:?}");
        }
    }

    /// A number beyond the content grammar's digit limits, which the readers still read.
    fn big(negative: bool, int: &str, frac: &str) -> Decimal {
        Decimal {
            negative,
            int: int.into(),
            frac: frac.into(),
        }
    }

    #[test]
    fn digits_are_read_one_by_one() {
        for (input, expected) in [
            ("13800138000", "一三八零零一三八零零零"),
            ("0", "零"),
            ("007", "零零七"),
            ("1234567890", "一二三四五六七八九零"),
            ("2", "二"),
            ("0000", "零零零零"),
        ] {
            assert_eq!(to_hanzi(&read_digits(input)), expected, "{input:?}");
        }
        assert_eq!(read_digits(&"1".repeat(64)).len(), 64);
    }

    #[test]
    fn small_integers() {
        check(
            read_number,
            &[
                ("0", "零"),
                ("1", "一"),
                ("2", "二"),
                ("9", "九"),
                ("10", "十"),
                ("11", "十一"),
                ("12", "十二"),
                ("15", "十五"),
                ("19", "十九"),
                ("20", "二十"),
                ("22", "二十二"),
                ("99", "九十九"),
                ("100", "一百"),
                ("101", "一百零一"),
                ("110", "一百一十"),
                ("111", "一百一十一"),
                ("200", "两百"),
                ("202", "两百零二"),
                ("220", "两百二十"),
                ("222", "两百二十二"),
                ("999", "九百九十九"),
                ("1000", "一千"),
                ("1001", "一千零一"),
                ("1010", "一千零一十"),
                ("1100", "一千一百"),
                ("1200", "一千二百"),
                ("2000", "两千"),
                ("2002", "两千零二"),
                ("2200", "两千二百"),
                ("2222", "两千二百二十二"),
                ("1086", "一千零八十六"),
                ("9999", "九千九百九十九"),
            ],
        );
    }

    #[test]
    fn wan_and_yi_groups() {
        check(
            read_number,
            &[
                ("10000", "一万"),
                ("10001", "一万零一"),
                ("10010", "一万零一十"),
                ("10100", "一万零一百"),
                ("11000", "一万一千"),
                ("12000", "一万两千"),
                ("20000", "两万"),
                ("20300", "两万零三百"),
                ("20200", "两万零两百"),
                ("22000", "两万两千"),
                ("100000", "十万"),
                ("100010", "十万零一十"),
                ("110000", "十一万"),
                ("120000", "十二万"),
                ("200000", "二十万"),
                ("220000", "二十二万"),
                ("1000000", "一百万"),
                ("2000000", "两百万"),
                ("10000000", "一千万"),
                ("10001000", "一千万一千"),
                ("10000100", "一千万零一百"),
                ("12345678", "一千二百三十四万五千六百七十八"),
                ("100000000", "一亿"),
                ("100000001", "一亿零一"),
                ("100010000", "一亿零一万"),
                ("100120000", "一亿零一十二万"),
                ("110000000", "一亿一千万"),
                ("200000000", "两亿"),
                ("200020000", "两亿零两万"),
                ("1000000001", "十亿零一"),
                ("1000000000", "十亿"),
                ("1234567890", "十二亿三千四百五十六万七千八百九十"),
                ("1000000000000", "一万亿"),
                ("1000000000001", "一万亿零一"),
                ("1000100000000", "一万零一亿"),
                ("2000000000000", "两万亿"),
                ("10000000000000", "十万亿"),
                ("1000000000000000", "一千万亿"),
                (
                    "9999999999999999",
                    "九千九百九十九万九千九百九十九亿九千九百九十九万九千九百九十九",
                ),
            ],
        );
        // 17 digits, beyond the content grammar: still read as a number.
        for (int, expected) in [
            ("10000000000000000", "一亿亿"),
            ("20000000000000000", "两亿亿"),
            (
                "12345678901234567",
                "一亿两千三百四十五万六千七百八十九亿零一百二十三万四千五百六十七",
            ),
            (
                "99999999999999999",
                "九亿九千九百九十九万九千九百九十九亿九千九百九十九万九千九百九十九",
            ),
        ] {
            assert_eq!(to_hanzi(&read_number(&big(false, int, ""))), expected);
        }
    }

    #[test]
    fn beyond_the_range_reads_digits() {
        for (d, expected) in [
            (
                big(false, "100000000000000000", ""),
                "一零零零零零零零零零零零零零零零零零",
            ),
            (
                big(true, "123456789012345678", "5"),
                "负一二三四五六七八九零一二三四五六七八点五",
            ),
            (
                big(false, "100000000000000000000", ""),
                "一零零零零零零零零零零零零零零零零零零零零",
            ),
        ] {
            assert_eq!(to_hanzi(&read_number(&d)), expected, "{d:?}");
        }
    }

    #[test]
    fn decimals_and_signs() {
        check(
            read_number,
            &[
                ("0.2", "零点二"),
                ("3.14", "三点一四"),
                ("10.50", "十点五零"),
                ("10.5", "十点五"),
                ("0.05", "零点零五"),
                ("2.2", "二点二"),
                ("-1", "负一"),
                ("-2", "负二"),
                ("-10", "负十"),
                ("-0.5", "负零点五"),
                ("-0", "零"),
                ("-0.0", "零点零"),
                ("15", "十五"),
                ("2500", "两千五百"),
                ("0.015", "零点零一五"),
                ("-20300.5", "负两万零三百点五"),
            ],
        );
    }

    #[test]
    fn amounts_read_yuan() {
        check(
            read_amount,
            &[
                ("1086.30", "一千零八十六点三元"),
                ("1086.3", "一千零八十六点三元"),
                ("10.00", "十元"),
                ("10", "十元"),
                ("0", "零元"),
                ("0.05", "零点零五元"),
                ("2", "二元"),
                ("200", "两百元"),
                ("-3.5", "负三点五元"),
                ("1.2345", "一点二三四五元"),
                ("-0.00", "零元"),
            ],
        );
    }

    #[test]
    fn amounts_in_yuan_jiao_fen() {
        check(
            read_amount_yuan,
            &[
                ("1086.30", "一千零八十六元三角"),
                ("1086.3", "一千零八十六元三角"),
                ("0.05", "五分"),
                ("12.05", "十二元零五分"),
                ("12.5", "十二元五角"),
                ("12.56", "十二元五角六分"),
                ("0.5", "五角"),
                ("0.56", "五角六分"),
                ("0.22", "二角二分"),
                ("10", "十元整"),
                ("10.00", "十元整"),
                ("1", "一元整"),
                ("2", "二元整"),
                ("0", "零元整"),
                ("100.05", "一百元零五分"),
                ("20000.1", "两万元一角"),
                ("-12.05", "负十二元零五分"),
                ("-0.05", "负五分"),
                ("-0", "零元整"),
                ("12.345", "十二元三角五分"),
                ("12.344", "十二元三角四分"),
                ("0.004", "零元整"),
                ("-0.004", "零元整"),
                ("0.005", "一分"),
                ("-0.005", "负一分"),
                ("0.095", "一角"),
                ("9.995", "十元整"),
                ("99999.999", "十万元整"),
                ("150", "一百五十元整"),
            ],
        );
    }

    #[test]
    fn quantities_say_liang_only_for_two() {
        let q = |n| {
            let mut out = Vec::new();
            push_quantity(n, &mut out);
            to_hanzi(&out)
        };
        assert_eq!(q(2), "两");
        assert_eq!(q(12), "十二");
        assert_eq!(q(22), "二十二");
        assert_eq!(q(0), "零");
        assert_eq!(q(1), "一");
        assert_eq!(to_hanzi(&cardinal(2)), "二");
    }

    #[test]
    fn every_integer_reading_is_well_formed() {
        // Properties that hold for every reading: no doubled 零, no trailing 零 (except 0
        // itself), and the digits read back to the number.
        let samples = (0..=25_000u64)
            .chain((0..2000).map(|i| i * 49_999_991 % 100_000_000_000))
            .chain((0..100).map(|i| 10u64.pow(i % 17) + u64::from(i)));
        for n in samples {
            let w = cardinal(n);
            let text = to_hanzi(&w);
            assert!(!text.contains("零零"), "{n}: {text}");
            assert!(n == 0 || !text.ends_with('零'), "{n}: {text}");
            assert_eq!(value_of(&w), n, "{n}: {text}");
        }
    }

    /// Reads a cardinal reading back to its value (test oracle, independent of the writer).
    fn value_of(words: &[Word]) -> u64 {
        let (mut total, mut section, mut digit_v) = (0u64, 0u64, 0u64);
        let mut yi_part = 0u64;
        for &w in words {
            match w {
                Word::Zero => {}
                Word::Liang => digit_v = 2,
                Word::Shi => {
                    section += if digit_v == 0 { 10 } else { digit_v * 10 };
                    digit_v = 0;
                }
                Word::Bai => {
                    section += digit_v * 100;
                    digit_v = 0;
                }
                Word::Qian => {
                    section += digit_v * 1000;
                    digit_v = 0;
                }
                Word::Wan => {
                    total += (section + digit_v) * WAN;
                    section = 0;
                    digit_v = 0;
                }
                Word::Yi => {
                    yi_part = (yi_part + total + section + digit_v) * YI;
                    total = 0;
                    section = 0;
                    digit_v = 0;
                }
                other => digit_v = Word::ALL.iter().position(|x| *x == other).unwrap_or(0) as u64,
            }
        }
        yi_part + total + section + digit_v
    }
}
