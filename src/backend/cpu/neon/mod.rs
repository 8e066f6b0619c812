//! NEON kernels for the ARM boards: AArch64 (Jetson Nano's Cortex-A57) with
//! the stable `core::arch::aarch64` intrinsics.

#[cfg(target_arch = "aarch64")]
pub(crate) mod aarch64;
