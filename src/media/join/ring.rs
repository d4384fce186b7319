//! [`SampleRing`]: a fixed-capacity FIFO of 8 kHz linear samples between two legs of a
//! join, each of which runs on its own phase of the frame grid and possibly with its own
//! packet time: one leg writes a frame per packet time, the other reads a frame per
//! packet time. Positions are absolute sample counts, so samples already written can be
//! silenced later by position (a DTMF tone found after it was written, see
//! [`SampleRing::mute_from`]). Never allocates after construction; a writer that gets
//! ahead of the reader by the whole capacity overwrites the oldest samples.

/// Samples held at most (256 ms at 8 kHz).
pub const RING: usize = 2048;

/// The ring.
pub struct SampleRing {
    buf: Box<[i16; RING]>,
    /// Absolute positions: `read <= written`, `written - read <= RING`.
    read: u64,
    written: u64,
}

impl Default for SampleRing {
    fn default() -> Self {
        Self::new()
    }
}

impl SampleRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self {
            buf: Box::new([0; RING]),
            read: 0,
            written: 0,
        }
    }

    /// Samples waiting to be read.
    pub fn len(&self) -> usize {
        (self.written - self.read) as usize
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.written == self.read
    }

    /// Absolute position of the next sample written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends `samples` (the oldest are dropped if the reader is a whole ring behind).
    pub fn write(&mut self, samples: &[i16]) {
        for &s in samples {
            self.buf[(self.written % RING as u64) as usize] = s;
            self.written += 1;
        }
        if self.written - self.read > RING as u64 {
            self.read = self.written - RING as u64;
        }
    }

    /// Appends `n` zero samples.
    pub fn write_silence(&mut self, n: usize) {
        for _ in 0..n {
            self.buf[(self.written % RING as u64) as usize] = 0;
            self.written += 1;
        }
        if self.written - self.read > RING as u64 {
            self.read = self.written - RING as u64;
        }
    }

    /// Takes `out.len()` samples if that many wait; returns whether it did.
    pub fn read(&mut self, out: &mut [i16]) -> bool {
        if self.len() < out.len() {
            return false;
        }
        for o in out.iter_mut() {
            *o = self.buf[(self.read % RING as u64) as usize];
            self.read += 1;
        }
        true
    }

    /// Drops everything waiting.
    pub fn clear(&mut self) {
        self.read = self.written;
    }

    /// Silences every sample from absolute position `from` on that is still unread.
    pub fn mute_from(&mut self, from: u64) {
        for pos in from.max(self.read)..self.written {
            self.buf[(pos % RING as u64) as usize] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_with_positions_and_overwrite() {
        let mut r = SampleRing::new();
        let a: Vec<i16> = (1..=160).collect();
        r.write(&a);
        let mut out = [0i16; 240];
        assert!(!r.read(&mut out), "not enough yet");
        r.write(&a);
        assert!(r.read(&mut out));
        assert_eq!(&out[..160], &a[..]);
        assert_eq!(&out[160..], &a[..80]);
        assert_eq!((r.len(), r.written()), (80, 320));
        r.mute_from(300);
        let mut rest = [0i16; 80];
        assert!(r.read(&mut rest));
        assert_eq!(&rest[..60], &a[80..140]);
        assert!(rest[60..].iter().all(|&s| s == 0), "muted by position");
        // A reader a whole ring behind loses the oldest samples, never the newest.
        for _ in 0..20 {
            r.write(&a);
        }
        assert_eq!(r.len(), RING);
        let mut last = [0i16; 160];
        let mut n = 0;
        while r.read(&mut last) {
            n += 1;
        }
        assert_eq!(n, RING / 160);
        r.write_silence(5);
        r.clear();
        assert!(r.is_empty());
    }
}
