//! How multi-message targets cut one fuzz input into messages: text protocols (SIP, API
//! frames) on a separator line, binary ones (RTP) on 2-byte length prefixes.

/// Separates the datagrams or frames of one input of a text target (`%%` on a line of
/// its own; the dictionaries carry it so afl can splice messages).
pub const SEPARATOR: &[u8] = b"\n%%\n";

/// At most this many messages are taken from one input, so an input of separators
/// cannot make one execution slow.
pub const MAX_MESSAGES: usize = 64;

/// The pieces of `data` between separators (an input without one is one message).
pub fn messages(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(at) => {
                rest = Some(&r[at + SEPARATOR.len()..]);
                Some(&r[..at])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
    .take(MAX_MESSAGES)
}

/// Length-prefixed packets: a big-endian u16 length, then that many bytes (a short last
/// packet takes what is left).
pub fn packets(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let len = (u16::from_be_bytes(*len) as usize).min(tail.len());
        let (packet, next) = tail.split_at(len);
        rest = next;
        Some(packet)
    })
    .take(MAX_MESSAGES * 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_on_the_separator_line() {
        let parts: Vec<&[u8]> = messages(b"a\r\nb\n%%\nc\n%%\n").collect();
        assert_eq!(parts, [&b"a\r\nb"[..], b"c", b""]);
        assert_eq!(messages(b"abc").collect::<Vec<_>>(), [b"abc"]);
        assert_eq!(messages(&[b'\n'; 0]).count(), 1);
        let many = SEPARATOR.repeat(1000);
        assert_eq!(messages(&many).count(), MAX_MESSAGES);
    }

    #[test]
    fn packets_follow_their_length_prefixes() {
        let parts: Vec<&[u8]> = packets(&[0, 2, 7, 8, 0, 0, 0, 9, 1]).collect();
        assert_eq!(parts, [&[7u8, 8][..], &[], &[1]]);
        assert_eq!(packets(&[5]).count(), 0);
    }
}
