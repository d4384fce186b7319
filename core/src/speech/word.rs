//! The words of the Mandarin prompt set: one `Word` per recorded prompt file.
//!
//! Reading rules produce sequences of these words; the prompt set maps each one to
//! its audio. A word that sounds the same in two roles has one entry: `Dian` (点) is
//! both the decimal point and "o'clock", `Fen` (分) both the money unit and the minute
//! of a clock time.

/// One word of the prompt set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Word {
    /// 零
    Zero,
    /// 一
    One,
    /// 二
    Two,
    /// 三
    Three,
    /// 四
    Four,
    /// 五
    Five,
    /// 六
    Six,
    /// 七
    Seven,
    /// 八
    Eight,
    /// 九
    Nine,
    /// 两 (2 before a unit or a measure word)
    Liang,
    /// 十
    Shi,
    /// 百
    Bai,
    /// 千
    Qian,
    /// 万 (10^4)
    Wan,
    /// 亿 (10^8)
    Yi,
    /// 点 (decimal point; also "o'clock")
    Dian,
    /// 负 (minus)
    Fu,
    /// 元
    Yuan,
    /// 角
    Jiao,
    /// 分 (fen of money; also the minute of a clock time)
    Fen,
    /// 整 (exactly: "no jiao or fen", "on the hour")
    Zheng,
    /// 年
    Nian,
    /// 月
    Yue,
    /// 日
    Ri,
    /// 秒
    Miao,
    /// 小时 (hours of a duration)
    XiaoShi,
    /// 分钟 (minutes of a duration)
    FenZhong,
}

impl Word {
    /// Every word, in declaration order (`Word::ALL[w as usize] == w`).
    pub const ALL: [Word; 28] = [
        Word::Zero,
        Word::One,
        Word::Two,
        Word::Three,
        Word::Four,
        Word::Five,
        Word::Six,
        Word::Seven,
        Word::Eight,
        Word::Nine,
        Word::Liang,
        Word::Shi,
        Word::Bai,
        Word::Qian,
        Word::Wan,
        Word::Yi,
        Word::Dian,
        Word::Fu,
        Word::Yuan,
        Word::Jiao,
        Word::Fen,
        Word::Zheng,
        Word::Nian,
        Word::Yue,
        Word::Ri,
        Word::Miao,
        Word::XiaoShi,
        Word::FenZhong,
    ];

    /// The word for a decimal digit 0..=9 (`None` for anything larger).
    pub fn digit(d: u8) -> Option<Word> {
        Word::ALL.get(usize::from(d)).copied().filter(|_| d <= 9)
    }

    /// The word written in Chinese characters (for logs and tests).
    pub fn hanzi(self) -> &'static str {
        match self {
            Word::Zero => "零",
            Word::One => "一",
            Word::Two => "二",
            Word::Three => "三",
            Word::Four => "四",
            Word::Five => "五",
            Word::Six => "六",
            Word::Seven => "七",
            Word::Eight => "八",
            Word::Nine => "九",
            Word::Liang => "两",
            Word::Shi => "十",
            Word::Bai => "百",
            Word::Qian => "千",
            Word::Wan => "万",
            Word::Yi => "亿",
            Word::Dian => "点",
            Word::Fu => "负",
            Word::Yuan => "元",
            Word::Jiao => "角",
            Word::Fen => "分",
            Word::Zheng => "整",
            Word::Nian => "年",
            Word::Yue => "月",
            Word::Ri => "日",
            Word::Miao => "秒",
            Word::XiaoShi => "小时",
            Word::FenZhong => "分钟",
        }
    }
}

/// Joins words into their Chinese text, e.g. `[One, Qian, Zero, One]` → "一千零一".
pub fn to_hanzi(words: &[Word]) -> String {
    words.iter().map(|w| w.hanzi()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_declaration_order() {
        for (i, w) in Word::ALL.iter().enumerate() {
            assert_eq!(*w as usize, i, "{w:?}");
        }
    }

    #[test]
    fn digits_map_to_their_words() {
        let text: String = (0..=9)
            .map(|d| Word::digit(d).map_or("?", Word::hanzi))
            .collect();
        assert_eq!(text, "零一二三四五六七八九");
        assert_eq!(Word::digit(10), None);
        assert_eq!(Word::digit(255), None);
    }

    #[test]
    fn hanzi_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for w in Word::ALL {
            assert!(seen.insert(w.hanzi()), "{w:?}");
        }
    }
}
