//! Which SIMD kernels this CPU can run, detected once and cached.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuIsa {
    /// x86-64 with AVX-512F: 32×8 register tiles.
    Avx512,
    /// x86-64 with AVX2 and FMA: 16×6 register tiles.
    Avx2,
    /// ARM NEON: 8×8 register tiles (AArch64; always present there).
    Neon,
    /// Plain Rust that the compiler vectorises for the build target.
    Portable,
}

impl CpuIsa {
    /// Fastest first.
    pub const ALL: [CpuIsa; 4] = [Self::Avx512, Self::Avx2, Self::Neon, Self::Portable];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512",
            Self::Avx2 => "avx2",
            Self::Neon => "neon",
            Self::Portable => "portable",
        }
    }

    /// `Ok` when this CPU runs the kernels, else why not.
    pub fn check(self) -> Result<(), String> {
        match self {
            Self::Portable => Ok(()),
            // NEON is part of the AArch64 base architecture.
            #[cfg(target_arch = "aarch64")]
            Self::Neon => Ok(()),
            #[cfg(not(any(target_arch = "aarch64", target_arch = "arm")))]
            Self::Neon => Err("NEON kernels exist for ARM only".into()),
            #[cfg(target_arch = "arm")]
            Self::Neon => crate::backend::cpu::neon::armv7::supported(),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => Ok(()),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma") =>
            {
                Ok(())
            }
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => Err("this CPU lacks AVX-512F".into()),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => Err("this CPU lacks AVX2 or FMA".into()),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx512 | Self::Avx2 => {
                Err(format!("{} kernels exist for x86-64 only", self.as_str()))
            }
        }
    }

    pub fn is_supported(self) -> bool {
        self.check().is_ok()
    }

    /// The fastest instruction set this CPU runs, detected once.
    pub fn best() -> CpuIsa {
        static BEST: OnceLock<CpuIsa> = OnceLock::new();
        *BEST.get_or_init(|| {
            Self::ALL
                .into_iter()
                .find(|isa| isa.is_supported())
                .unwrap_or(Self::Portable)
        })
    }

    pub fn supported() -> Vec<CpuIsa> {
        Self::ALL
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    /// Returns `self` if supported, else a typed error.
    pub fn require(self) -> Result<CpuIsa> {
        self.check()
            .map(|_| self)
            .map_err(|reason| Error::IsaUnavailable {
                isa: self.as_str().into(),
                reason,
            })
    }
}

impl fmt::Display for CpuIsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for CpuIsa {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|isa| isa.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::Setting {
                name: crate::settings::CPU_ISA.name,
                value: s.into(),
                reason: "expected avx512, avx2, neon or portable".into(),
            })
    }
}

/// The CPU features worth reporting, for `groupscale info`.
pub fn features() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut found = Vec::new();
        macro_rules! probe {
            ($($f:tt),*) => {$(if std::arch::is_x86_feature_detected!($f) { found.push($f); })*};
        }
        probe!(
            "sse4.2",
            "avx",
            "avx2",
            "fma",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512vnni",
            "f16c"
        );
        found
    }
    #[cfg(target_arch = "aarch64")]
    {
        vec!["neon"]
    }
    #[cfg(target_arch = "arm")]
    {
        match crate::backend::cpu::neon::armv7::supported() {
            Ok(()) => vec!["neon", "vfpv4"],
            Err(_) => Vec::new(),
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm")))]
    {
        Vec::new()
    }
}
