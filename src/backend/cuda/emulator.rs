//! The CPU emulator as a [`Device`]: "device" memory is host memory and a
//! launch runs the kernels' C++ build (`kernels/emulator/`) block by block.
//! Only built with the `cuda-emulator` feature, for tests on machines
//! without a GPU.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::HashMap;
use std::ffi::{c_char, c_int};
use std::sync::Mutex;

use super::args::DevicePtr;
use super::device::{Device, Launch};
use crate::backend::BackendKind;
use crate::error::{Error, Result};

extern "C" {
    fn gs_emu_launch(
        name: *const c_char,
        grid: *const u32,
        block: *const u32,
        args: *const u8,
        error: *mut c_char,
        error_len: usize,
    ) -> c_int;
}

const ALIGN: usize = 256;

pub struct Emulator {
    /// Live allocations and their layouts, to free them and to refuse
    /// double frees.
    allocations: Mutex<HashMap<DevicePtr, Layout>>,
    fast_f16: bool,
}

impl Emulator {
    /// `fast_f16` plays a device with fast f16 arithmetic, so the half2
    /// kernels can be chosen and tested.
    pub fn new(fast_f16: bool) -> Self {
        Self {
            allocations: Mutex::default(),
            fast_f16,
        }
    }
}

fn failure(reason: String) -> Error {
    Error::BackendUnavailable {
        backend: BackendKind::Cuda,
        reason,
    }
}

impl Device for Emulator {
    fn describe(&self) -> String {
        format!(
            "CPU emulator of the CUDA kernels{}",
            if self.fast_f16 { ", half2 on" } else { "" }
        )
    }

    fn multiprocessors(&self) -> u32 {
        1
    }

    fn fast_f16(&self) -> bool {
        self.fast_f16
    }

    fn alloc(&self, bytes: usize) -> Result<DevicePtr> {
        let layout = Layout::from_size_align(bytes.max(1), ALIGN)
            .map_err(|e| failure(format!("allocating {bytes} bytes: {e}")))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(failure(format!("out of memory allocating {bytes} bytes")));
        }
        let addr = ptr as DevicePtr;
        self.allocations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(addr, layout);
        Ok(addr)
    }

    unsafe fn free(&self, ptr: DevicePtr) {
        let layout = self
            .allocations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ptr);
        if let Some(layout) = layout {
            // SAFETY: allocated by `alloc` with this layout, removed once.
            unsafe { dealloc(ptr as *mut u8, layout) };
        }
    }

    unsafe fn upload(&self, dst: DevicePtr, src: &[u8]) -> Result<()> {
        // SAFETY: the caller guarantees `dst` holds `src.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
        Ok(())
    }

    unsafe fn download(&self, src: DevicePtr, dst: &mut [u8]) -> Result<()> {
        // SAFETY: the caller guarantees `src` holds `dst.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    fn synchronize(&self) -> Result<()> {
        // Emulated launches finish before they return.
        Ok(())
    }

    unsafe fn launch(&self, launch: &Launch) -> Result<()> {
        let mut error = [0 as c_char; 256];
        // SAFETY: the arguments describe live allocations (caller), and the
        // emulator copies nothing beyond the struct's size.
        let status = unsafe {
            gs_emu_launch(
                launch.kernel.symbol().as_ptr(),
                launch.grid.as_ptr(),
                launch.block.as_ptr(),
                launch.args.as_bytes().as_ptr(),
                error.as_mut_ptr(),
                error.len(),
            )
        };
        if status == 0 {
            return Ok(());
        }
        // SAFETY: the emulator wrote a NUL-terminated message.
        let message = unsafe { std::ffi::CStr::from_ptr(error.as_ptr()) };
        Err(failure(format!(
            "emulated launch failed: {}",
            message.to_string_lossy()
        )))
    }
}
