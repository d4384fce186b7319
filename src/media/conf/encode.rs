//! [`SharedEncodings`]: the mix that every listener who said nothing hears is one frame;
//! it is encoded once per law per tick, and those bytes go to all of them.

use crate::codec::Codec;
use crate::mixer::FRAME;

/// One tick's encodings of the shared frame, made on first use.
pub struct SharedEncodings {
    ulaw: Option<[u8; FRAME]>,
    alaw: Option<[u8; FRAME]>,
    /// Encodings made (of the shared frame or of members' own frames).
    pub made: u32,
}

impl Default for SharedEncodings {
    fn default() -> Self {
        Self::new()
    }
}

impl SharedEncodings {
    /// Nothing encoded yet.
    pub fn new() -> Self {
        Self {
            ulaw: None,
            alaw: None,
            made: 0,
        }
    }

    /// `frame` (this tick's shared frame) in `law`, encoded on the first call for that law.
    pub fn get(&mut self, law: Codec, frame: &[i16; FRAME]) -> &[u8; FRAME] {
        let slot = match law {
            Codec::Pcmu => &mut self.ulaw,
            Codec::Pcma => &mut self.alaw,
        };
        if slot.is_none() {
            self.made += 1;
        }
        slot.get_or_insert_with(|| {
            let mut out = [0u8; FRAME];
            law.encode_slice(frame, &mut out);
            out
        })
    }

    /// Counts an encoding made for one member alone.
    pub fn own(&mut self) {
        self.made += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_law() {
        let frame: [i16; FRAME] = std::array::from_fn(|i| (i as i16 - 80) * 300);
        let mut e = SharedEncodings::new();
        let u = *e.get(Codec::Pcmu, &frame);
        for _ in 0..50 {
            assert_eq!(e.get(Codec::Pcmu, &frame), &u);
        }
        assert_eq!(e.made, 1);
        let a = *e.get(Codec::Pcma, &frame);
        assert_eq!(e.made, 2);
        for i in 0..FRAME {
            assert_eq!(u[i], Codec::Pcmu.encode(frame[i]));
            assert_eq!(a[i], Codec::Pcma.encode(frame[i]));
        }
    }
}
