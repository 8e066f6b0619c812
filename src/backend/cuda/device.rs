//! What the CUDA backend needs from a device, so that the same planning,
//! buffers and kernels run on a GPU through the driver API or, in tests,
//! on the CPU emulator.

use std::ffi::CStr;
use std::sync::Arc;

use super::args::{Args, DevicePtr};
use crate::error::Result;

/// The kernels in the module (`kernels/*.cu`), by their extern "C" names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelName {
    ConvF32w64,
    ConvF32w32,
    ConvF16w64,
    ConvF16w32,
    ConvHalf2x64,
    ConvHalf2x32,
    MaxPool,
    DenseF32w,
    DenseF16w,
    Softmax,
}

impl KernelName {
    pub const ALL: [KernelName; 10] = [
        Self::ConvF32w64,
        Self::ConvF32w32,
        Self::ConvF16w64,
        Self::ConvF16w32,
        Self::ConvHalf2x64,
        Self::ConvHalf2x32,
        Self::MaxPool,
        Self::DenseF32w,
        Self::DenseF16w,
        Self::Softmax,
    ];

    /// The extern "C" name, NUL-terminated for the driver and the emulator.
    pub fn symbol(self) -> &'static CStr {
        match self {
            Self::ConvF32w64 => c"conv_f32w_64",
            Self::ConvF32w32 => c"conv_f32w_32",
            Self::ConvF16w64 => c"conv_f16w_64",
            Self::ConvF16w32 => c"conv_f16w_32",
            Self::ConvHalf2x64 => c"conv_h2_64",
            Self::ConvHalf2x32 => c"conv_h2_32",
            Self::MaxPool => c"max_pool",
            Self::DenseF32w => c"dense_f32w",
            Self::DenseF16w => c"dense_f16w",
            Self::Softmax => c"softmax",
        }
    }

    pub fn name(self) -> &'static str {
        self.symbol().to_str().expect("ASCII names")
    }

    pub fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&k| k == self)
            .expect("ALL lists every kernel")
    }
}

/// A kernel launch: which kernel, its grid and block, and its argument struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Launch {
    pub kernel: KernelName,
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub args: Args,
}

pub trait Device: Send + Sync {
    /// Name, compute capability, and where the PTX came from.
    fn describe(&self) -> String;
    /// Streaming multiprocessors: sizes the conv tiles.
    fn multiprocessors(&self) -> u32;
    /// Whether f16 arithmetic runs at twice the f32 rate (sm_53, sm_60, sm_62, sm_70+).
    fn fast_f16(&self) -> bool;

    fn alloc(&self, bytes: usize) -> Result<DevicePtr>;
    /// # Safety
    /// `ptr` came from this device's `alloc` and is not used again.
    unsafe fn free(&self, ptr: DevicePtr);
    /// # Safety
    /// `dst` holds at least `src.len()` bytes.
    unsafe fn upload(&self, dst: DevicePtr, src: &[u8]) -> Result<()>;
    /// Waits for earlier launches, then copies.
    /// # Safety
    /// `src` holds at least `dst.len()` bytes.
    unsafe fn download(&self, src: DevicePtr, dst: &mut [u8]) -> Result<()>;
    /// # Safety
    /// The addresses in `launch.args` are live allocations of this device,
    /// large enough for the shapes the arguments describe.
    unsafe fn launch(&self, launch: &Launch) -> Result<()>;
    /// Waits for every launch so far.
    fn synchronize(&self) -> Result<()>;
}

/// An allocation on a device, freed on drop; it only grows.
pub struct DeviceBuffer {
    device: Arc<dyn Device>,
    ptr: DevicePtr,
    bytes: usize,
}

impl DeviceBuffer {
    pub fn new(device: &Arc<dyn Device>, bytes: usize) -> Result<Self> {
        // Never zero bytes: a null address means "no bias" to the kernels.
        let bytes = bytes.max(4);
        Ok(Self {
            device: device.clone(),
            ptr: device.alloc(bytes)?,
            bytes,
        })
    }

    pub fn with_data(device: &Arc<dyn Device>, data: &[u8]) -> Result<Self> {
        let buffer = Self::new(device, data.len())?;
        // SAFETY: the buffer was sized for `data`.
        unsafe { device.upload(buffer.ptr, data)? };
        Ok(buffer)
    }

    pub fn ptr(&self) -> DevicePtr {
        self.ptr
    }

    /// Makes room for `bytes`, reallocating only when it grows.
    pub fn ensure(&mut self, bytes: usize) -> Result<()> {
        if bytes > self.bytes {
            *self = Self::new(&self.device, bytes)?;
        }
        Ok(())
    }

    pub fn upload_f32(&self, data: &[f32]) -> Result<()> {
        let bytes = f32_bytes(data);
        assert!(bytes.len() <= self.bytes, "upload past the buffer's end");
        // SAFETY: checked just above.
        unsafe { self.device.upload(self.ptr, bytes) }
    }

    pub fn download_f32(&self, out: &mut [f32]) -> Result<()> {
        let bytes = f32_bytes_mut(out);
        assert!(bytes.len() <= self.bytes, "download past the buffer's end");
        // SAFETY: checked just above.
        unsafe { self.device.download(self.ptr, bytes) }
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated by this device in `new`, dropped once.
        unsafe { self.device.free(self.ptr) }
    }
}

pub fn f32_bytes(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte pattern is a valid u8.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
}

fn f32_bytes_mut(v: &mut [f32]) -> &mut [u8] {
    // SAFETY: every byte pattern is a valid f32.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), std::mem::size_of_val(v)) }
}
