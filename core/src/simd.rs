//! Which SIMD kernel a batch of samples runs: the one choice the DTMF detector banks and
//! the conference mixer share (AVX2 where the CPU has it, checked at run time; a portable
//! scalar path everywhere, kept as the reference the SIMD one is tested against).

/// Which per-sample kernel a bank or a mixer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Portable scalar code (the compiler may auto-vectorise it to the target's baseline).
    Scalar,
    /// AVX2 (x86-64 only, checked at run time).
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    pub fn detect() -> Kernel {
        if avx2_available() {
            Kernel::Avx2
        } else {
            Kernel::Scalar
        }
    }
}

/// Whether this CPU runs AVX2.
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
