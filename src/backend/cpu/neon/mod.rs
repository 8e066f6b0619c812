//! NEON kernels for the ARM boards: AArch64 (Jetson Nano's Cortex-A57) with
//! the stable `core::arch::aarch64` intrinsics, and 32-bit ARMv7 (Odroid
//! XU3's Cortex-A15/A7) in inline assembly, detected at run time.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "arm")]
pub(crate) mod armv7;

#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64::Neon;
#[cfg(target_arch = "arm")]
pub(crate) use armv7::Neon;
