//! Character classes and small lexical helpers of the RFC 3261 §25 grammar shared by the
//! SIP parsers: tokens, quoted strings, comma lists and `;name=value` parameter lists.

/// `TOKEN_BYTES[b]` is true when byte `b` is an RFC 3261 `token` character:
/// `alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"`. Every token
/// character is ASCII, so bytes of multi-byte UTF-8 sequences are never token bytes and a
/// byte-wise check of a `str` agrees with a char-wise one.
static TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        b += 1;
    }
    table
};

/// True for the bytes of an RFC 3261 `token` (one table look-up).
#[inline]
pub fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES[usize::from(b)]
}

/// True for the characters of an RFC 3261 `token`.
pub fn is_token_char(c: char) -> bool {
    c.is_ascii() && is_token_byte(c as u8)
}

/// True when `s` is a non-empty RFC 3261 `token`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Length in bytes of the longest prefix of `s` made of token characters (0 when `s` does
/// not start with one). Always a char boundary of `s`.
pub fn token_prefix_len(s: &str) -> usize {
    s.bytes().position(|b| !is_token_byte(b)).unwrap_or(s.len())
}

/// `s.trim()` (Unicode whitespace), quicker when the edges are ASCII, as in SIP text:
/// ASCII whitespace is skipped byte by byte, and only a non-ASCII edge takes the general path.
pub fn trim(s: &str) -> &str {
    // the ASCII characters for which `char::is_whitespace` holds
    let ascii_ws = |b: &u8| matches!(b, b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | b' ');
    let s = &s[s.bytes().take_while(ascii_ws).count()..];
    let s = match s.as_bytes().first() {
        Some(b) if !b.is_ascii() => s.trim_start(),
        _ => s,
    };
    let s = &s[..s.len() - s.bytes().rev().take_while(ascii_ws).count()];
    match s.as_bytes().last() {
        Some(b) if !b.is_ascii() => s.trim_end(),
        _ => s,
    }
}

/// True for SP and HTAB.
pub fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// True when `s` is a URI scheme: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
pub fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// If `s` starts with a well-formed quoted string, returns its byte length (quotes included).
pub fn quoted_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    if !matches!(chars.next(), Some((_, '"'))) {
        return None;
    }
    let mut escaped = false;
    for (i, c) in chars {
        if escaped {
            if c == '\r' || c == '\n' {
                return None;
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some(i + 1);
        }
    }
    None
}

/// Removes the quotes and quoted-pair escapes of a quoted string (`s` must be one).
pub fn unquote(s: &str) -> String {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `s` as a quoted string, escaping `"`, `\` and control characters.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') || (c.is_ascii_control() && c != '\t') {
            if c == '\r' || c == '\n' {
                continue; // not representable, even escaped
            }
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Splits a header value at the commas that are outside quoted strings and `<...>`.
/// Items are trimmed; empty items are yielded too (callers that validate need them).
pub struct CommaSplit<'a> {
    rest: Option<&'a str>,
}

impl<'a> CommaSplit<'a> {
    /// Starts splitting `s`.
    pub fn new(s: &'a str) -> Self {
        Self { rest: Some(s) }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        match find_top_level(s, ',') {
            Some(i) => {
                self.rest = Some(&s[i + 1..]);
                Some(s[..i].trim())
            }
            None => {
                self.rest = None;
                Some(s.trim())
            }
        }
    }
}

/// Byte index of the first `sep` in `s` outside quoted strings and `<...>`.
pub fn find_top_level(s: &str, sep: char) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    let mut angle = false;
    for (i, c) in s.char_indices() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
            }
            continue;
        }
        match c {
            '"' => in_quote = true,
            '<' => angle = true,
            '>' => angle = false,
            _ if c == sep && !angle => return Some(i),
            _ => {}
        }
    }
    None
}

/// A `;`-separated generic parameter list: names and raw values (quotes kept).
pub type Params = Vec<(String, Option<String>)>;

/// Parses `name[=value]` items separated by `;` (the text after the first `;`),
/// allowing LWS around `;` and `=`. Values are tokens, hosts (IPv6 references
/// included) or quoted strings; they are kept as written.
pub fn parse_params(s: &str) -> Result<Params, &'static str> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        let end = find_top_level(rest, ';').unwrap_or(rest.len());
        let item = rest[..end].trim();
        if item.is_empty() {
            return Err("Empty parameter");
        }
        let (name, value) = match item.find('=') {
            Some(eq) => {
                let value = item[eq + 1..].trim();
                if !is_gen_value(value) {
                    return Err("Malformed parameter value");
                }
                (item[..eq].trim(), Some(value.to_string()))
            }
            None => (item, None),
        };
        if !is_token(name) {
            return Err("Malformed parameter name");
        }
        out.push((name.to_string(), value));
        if end == rest.len() {
            return Ok(out);
        }
        rest = &rest[end + 1..];
    }
}

/// `gen-value = token / host / quoted-string`.
fn is_gen_value(v: &str) -> bool {
    if v.starts_with('"') {
        return quoted_len(v) == Some(v.len());
    }
    let ipv6 = |s: &str| {
        s.contains(':')
            && s.chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    };
    if let Some(inner) = v.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        return ipv6(inner);
    }
    is_token(v) || ipv6(v)
}

/// Looks a parameter up by name, case-insensitively.
pub fn param<'a>(params: &'a [(String, Option<String>)], name: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_deref())
}

/// Appends `;name[=value]` items to `out`.
pub fn write_params(out: &mut String, params: &[(String, Option<String>)]) {
    for (name, value) in params {
        out.push(';');
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
}

/// Decodes `%HH` escapes; a `%` not followed by two hex digits is kept as is.
pub fn pct_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Parses a run of ASCII digits (no sign, leading zeros allowed) into a `u64`.
pub fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_is_str_trim() {
        let edges = [
            "",
            " ",
            "\t",
            "\r\n",
            "\x0b\x0c",
            "\u{a0}",
            " \u{3000}\t",
            "\u{85}x",
            "é",
        ];
        for a in edges {
            for b in edges {
                for mid in ["", "x", "a b", "\u{a0}", "é y é"] {
                    let s = format!("{a}{mid}{b}");
                    assert_eq!(trim(&s), s.trim(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn token_table_matches_the_grammar() {
        let specials = "-.!%*_+`'~";
        for c in (0..=0x2ffu32).filter_map(char::from_u32) {
            let expected = c.is_ascii_alphanumeric() || specials.contains(c);
            assert_eq!(is_token_char(c), expected, "{c:?}");
            assert_eq!(is_token(c.encode_utf8(&mut [0; 4])), expected, "{c:?}");
        }
        assert!(is_token("INVITE") && is_token("a.b-c!d%e*f_g+h`i'j~k"));
        assert!(!is_token("") && !is_token("a b") && !is_token("é") && !is_token("a:"));
        assert_eq!(token_prefix_len("Call-ID : x"), 7);
        assert_eq!(token_prefix_len("ab\u{e9}"), 2);
        assert_eq!(token_prefix_len(" a"), 0);
        assert_eq!(token_prefix_len("abc"), 3);
    }

    #[test]
    fn comma_split_respects_quotes_and_angles() {
        let items: Vec<_> = CommaSplit::new(r#""a, \"b" <sip:x@y;p=1,2>, <sip:z>;q=1 ,"#).collect();
        assert_eq!(
            items,
            vec![r#""a, \"b" <sip:x@y;p=1,2>"#, "<sip:z>;q=1", ""]
        );
    }

    #[test]
    fn params_with_lws_and_flags() {
        let p = parse_params(" tag    = 1918181833n ; lr ;q=\"a;b\"").expect("params");
        assert_eq!(p[0], ("tag".into(), Some("1918181833n".into())));
        assert_eq!(p[1], ("lr".into(), None));
        assert_eq!(p[2], ("q".into(), Some("\"a;b\"".into())));
        assert!(parse_params(";").is_err());
        assert!(parse_params("a=").is_err());
        assert!(parse_params("a b=c").is_err());
        assert!(parse_params("received=2001:db8::9:255;x=[::1]").is_ok());
        assert!(parse_params("x=host:5060").is_err());
        assert_eq!(param(&p, "TAG"), Some(Some("1918181833n")));
    }

    #[test]
    fn quoting_round_trip() {
        let q = quote("J Rosenberg \\\"");
        assert_eq!(q, r#""J Rosenberg \\\"""#);
        assert_eq!(quoted_len(&q), Some(q.len()));
        assert_eq!(unquote(&q), "J Rosenberg \\\"");
        assert_eq!(quoted_len("\"open"), None);
    }

    #[test]
    fn pct_decoding() {
        assert_eq!(pct_decode("%75se%72"), b"user");
        assert_eq!(pct_decode("null-%00-x"), b"null-\0-x");
        assert_eq!(pct_decode("%Z%45%"), b"%ZE%");
        assert_eq!(pct_decode("%4"), b"%4");
    }
}
