//! The calendar values of content types 4 and 5 ([`Date`], [`TimeOfDay`], [`TimeSpan`])
//! and their one text grammar, which the API decodes `play_start` content with.
//!
//! Type 4, the seed's six forms: `YYYY-mm-dd HH:MM:SS`, `YYYY-mm-dd HH:MM`, `YYYY-mm-dd`,
//! `YYYY-mm`, `HH:MM:SS`, `HH:MM`. The year has exactly four digits (0001..=9999), every
//! other field one or two; date and time are separated by one space. Ranges: month
//! 1..=12, day 1..=(days of that month, Gregorian leap years), hour 0..=23, minute and
//! second 0..=59.
//!
//! Type 5: `HH:MM:SS` or `HH:MM`, each field of one or two digits, 0..=99.
//!
//! Errors are the reason alone (`month 13 not in 1..=12`); the caller says which forms
//! were expected.

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// 1..=9999.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=days of that month; `None` for the `YYYY-mm` form.
    pub day: Option<u8>,
}

/// A time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDay {
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59; `None` for the `HH:MM` form.
    pub second: Option<u8>,
}

/// A duration, each field 0..=99.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSpan {
    /// Hours.
    pub hours: u8,
    /// Minutes.
    pub minutes: u8,
    /// Seconds; `None` for the `HH:MM` form.
    pub seconds: Option<u8>,
}

/// Parses one of the six type 4 forms: a date, a time of day, or both.
pub fn parse_datetime(s: &str) -> Result<(Option<Date>, Option<TimeOfDay>), String> {
    match s.split_once(' ') {
        Some((d, t)) => Ok((Some(parse_date(d, true)?), Some(parse_time(t)?))),
        None if s.contains('-') => Ok((Some(parse_date(s, false)?), None)),
        None if s.contains(':') => Ok((None, Some(parse_time(s)?))),
        None => Err("neither a date nor a time".to_string()),
    }
}

/// Parses a type 5 duration.
pub fn parse_duration(s: &str) -> Result<TimeSpan, String> {
    let f = parse_fields(s, ':', 2, 3, false, 99)?;
    Ok(TimeSpan {
        hours: f[0] as u8,
        minutes: f[1] as u8,
        seconds: f.get(2).map(|&x| x as u8),
    })
}

/// Splits `s` on `sep` into `min..=max` fields of 1 or 2 digits each, at most
/// `limit`; with `year_first` the first field is a 4-digit year instead.
fn parse_fields(
    s: &str,
    sep: char,
    min: usize,
    max: usize,
    year_first: bool,
    limit: u32,
) -> Result<Vec<u32>, String> {
    let parts: Vec<&str> = s.split(sep).collect();
    if parts.len() < min || parts.len() > max {
        return Err(format!("{} field(s), {min} to {max} expected", parts.len()));
    }
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        let is_year = year_first && i == 0;
        let width_ok = if is_year {
            p.len() == 4
        } else {
            (1..=2).contains(&p.len())
        };
        if !width_ok || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad field {p:?}"));
        }
        let n: u32 = p.parse().map_err(|_| format!("bad field {p:?}"))?;
        if n > limit && !is_year {
            return Err(format!("{n} is more than {limit}"));
        }
        out.push(n);
    }
    Ok(out)
}

fn parse_date(s: &str, need_day: bool) -> Result<Date, String> {
    let f = parse_fields(s, '-', if need_day { 3 } else { 2 }, 3, true, 99)?;
    let (year, month) = (f[0], f[1]);
    if year == 0 {
        return Err("year 0".to_string());
    }
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} not in 1..=12"));
    }
    let day = match f.get(2) {
        None => None,
        Some(&d) => {
            let dim = days_in_month(year, month);
            if !(1..=dim).contains(&d) {
                return Err(format!("day {d} not in 1..={dim}"));
            }
            Some(d as u8)
        }
    };
    Ok(Date {
        year: year as u16,
        month: month as u8,
        day,
    })
}

fn parse_time(s: &str) -> Result<TimeOfDay, String> {
    let f = parse_fields(s, ':', 2, 3, false, 59)?;
    let hour = f[0];
    if hour > 23 {
        return Err(format!("hour {hour} not in 0..=23"));
    }
    Ok(TimeOfDay {
        hour: hour as u8,
        minute: f[1] as u8,
        second: f.get(2).map(|&x| x as u8),
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_six_forms() {
        for (s, date, time) in [
            ("2012-9-8 1:5:3", dt(2012, 9, Some(8)), tm(1, 5, Some(3))),
            ("2012-9-8 1:5", dt(2012, 9, Some(8)), tm(1, 5, None)),
            ("2012-9-8", dt(2012, 9, Some(8)), None),
            ("1980-01", dt(1980, 1, None), None),
            ("0001-1", dt(1, 1, None), None),
            ("01:23:35", None, tm(1, 23, Some(35))),
            ("0:00", None, tm(0, 0, None)),
            ("2024-2-29", dt(2024, 2, Some(29)), None),
        ] {
            assert_eq!(parse_datetime(s), Ok((date, time)), "{s}");
        }
    }

    #[test]
    fn malformed_and_out_of_range_dates_and_times() {
        for (s, why) in [
            ("2012", "neither"),
            ("12", "neither"),
            ("2012-", "bad field"),
            ("2012-9-8-1", "4 field(s)"),
            ("12-9-8", "bad field"),
            ("20120-9-8", "bad field"),
            ("2012/9/8", "neither"),
            ("2012-9-8 1", "1 field(s)"),
            ("2012-9-8 1:2:3:4", "4 field(s)"),
            ("1:2:3:4", "4 field(s)"),
            ("1::2", "bad field"),
            (":5", "bad field"),
            ("a:b", "bad field"),
            ("2012-a", "bad field"),
            ("1:5 pm", "1 field(s)"),
            ("2012-9-8 1:5:3 x", "bad field"),
            ("−1:5", "bad field"),
            ("2012-9-8T", "bad field"),
            ("2020-11-20T20:20", "bad field"),
            ("2020-01-02  03:04", "bad field"),
            (" 2020-01-02", "1 field(s)"),
            ("", "neither"),
            ("0000-01-01", "year 0"),
            ("2012-13-01", "month 13 not in 1..=12"),
            ("2012-0", "month 0"),
            ("2012-1-0", "day 0 not in 1..=31"),
            ("2012-4-31", "day 31 not in 1..=30"),
            ("2023-2-29", "day 29 not in 1..=28"),
            ("1900-2-29", "day 29 not in 1..=28"),
            ("2024-2-30", "day 30 not in 1..=29"),
            ("24:00", "hour 24 not in 0..=23"),
            ("23:60", "60 is more than 59"),
            ("23:59:60", "60 is more than 59"),
            ("2012-1-1 25:00", "hour 25"),
        ] {
            let e = parse_datetime(s).expect_err(s);
            assert!(e.contains(why), "{s:?}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("99:99:99"),
            Ok(TimeSpan {
                hours: 99,
                minutes: 99,
                seconds: Some(99)
            })
        );
        assert_eq!(
            parse_duration("0:30"),
            Ok(TimeSpan {
                hours: 0,
                minutes: 30,
                seconds: None
            })
        );
        for (s, why) in [
            ("1", "1 field(s)"),
            ("1:2:3:4", "4 field(s)"),
            ("1:", "bad field"),
            (":1", "bad field"),
            ("a:1", "bad field"),
            ("1.5:2", "bad field"),
            ("-1:2", "bad field"),
            ("1 :2", "bad field"),
            ("12345:1", "bad field"),
            (" 0:30 ", "bad field"),
            ("100:0", "bad field"),
            ("0:100", "bad field"),
            ("0:0:100", "bad field"),
            ("", "1 field(s)"),
        ] {
            let e = parse_duration(s).expect_err(s);
            assert!(e.contains(why), "{s:?}: {e}");
        }
    }
}
