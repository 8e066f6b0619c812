//! A CUDA GPU through the driver API, loaded at run time (cudarc's dynamic
//! loading), so the crate builds and runs where CUDA is absent.
//!
//! Only driver calls that CUDA 10.2 has are made, because the Jetson Nano's
//! JetPack 4 has no newer driver: cuInit, cuDeviceGetCount, cuDeviceGet,
//! cuDeviceGetAttribute, cuDeviceGetName, cuDevicePrimaryCtxRetain,
//! cuCtxSetCurrent, cuModuleLoadData, cuModuleGetFunction, cuModuleUnload,
//! cuMemAlloc_v2, cuMemFree_v2, cuMemcpyHtoD_v2, cuMemcpyDtoH_v2,
//! cuLaunchKernel, cuCtxSynchronize, cuGetErrorString/Name. cudarc binds a
//! symbol when it is first called and panics if the driver lacks it, so the
//! one newer symbol on this path, cuDevicePrimaryCtxRelease_v2 (CUDA 11),
//! is looked up before it is called. cudarc's `CudaContext` is not used: it
//! asks for attributes from CUDA 11.2.

use std::ffi::{c_void, CString};

use cudarc::driver::result as cu;
use cudarc::driver::sys;

use super::args::DevicePtr;
use super::device::{Device, KernelName, Launch};
use super::{nvrtc, source};
use crate::backend::BackendKind;
use crate::error::{Error, Result};

fn failure(reason: impl Into<String>) -> Error {
    Error::BackendUnavailable {
        backend: BackendKind::Cuda,
        reason: reason.into(),
    }
}

fn driver(what: &str) -> impl Fn(cu::DriverError) -> Error + '_ {
    move |e| failure(format!("{what}: {e}"))
}

pub struct DriverDevice {
    device: sys::CUdevice,
    context: sys::CUcontext,
    module: sys::CUmodule,
    functions: Vec<sys::CUfunction>,
    name: String,
    capability: (i32, i32),
    multiprocessors: u32,
    ptx_origin: String,
}

// SAFETY: the context, module and function handles are process-wide driver
// objects; every method makes the context current on the calling thread
// before using them, and the driver API is thread-safe.
unsafe impl Send for DriverDevice {}
unsafe impl Sync for DriverDevice {}

impl DriverDevice {
    /// Opens GPU `ordinal`, or says why there is none. Never panics for a
    /// missing driver: the library's presence is checked before any call.
    pub fn open(ordinal: usize) -> Result<Self> {
        // SAFETY: only tries to load the library.
        if !unsafe { sys::is_culib_present() } {
            return Err(failure(
                "libcuda was not found (no NVIDIA driver installed)",
            ));
        }
        cu::init().map_err(driver("cuInit"))?;
        let count = cu::device::get_count().map_err(driver("counting devices"))?;
        if count <= 0 {
            return Err(failure("the driver reports no CUDA device"));
        }
        if ordinal >= count as usize {
            return Err(failure(format!(
                "device {ordinal} requested (GROUPSCALE_CUDA_DEVICE), but there are {count}"
            )));
        }
        let device = cu::device::get(ordinal as i32).map_err(driver("cuDeviceGet"))?;
        let attribute = |a| {
            // SAFETY: `device` came from cuDeviceGet.
            unsafe { cu::device::get_attribute(device, a) }.map_err(driver("device attribute"))
        };
        use sys::CUdevice_attribute as A;
        let capability = (
            attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        );
        let multiprocessors = attribute(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?.max(1) as u32;
        let name = cu::device::get_name(device).map_err(driver("device name"))?;
        // SAFETY: a valid device; released in Drop.
        let context = unsafe { cu::primary_ctx::retain(device) }.map_err(driver("context"))?;
        let mut opened = Self {
            device,
            context,
            module: std::ptr::null_mut(),
            functions: Vec::new(),
            name,
            capability,
            multiprocessors,
            ptx_origin: String::new(),
        };
        opened.make_current()?;
        let (module, origin) = opened.load_module()?;
        opened.module = module;
        opened.ptx_origin = origin;
        opened.functions = KernelName::ALL
            .iter()
            .map(|k| {
                // SAFETY: `module` was just loaded.
                unsafe { cu::module::get_function(module, k.symbol().into()) }
                    .map_err(|e| failure(format!("kernel {}: {e}", k.name())))
            })
            .collect::<Result<_>>()?;
        Ok(opened)
    }

    fn make_current(&self) -> Result<()> {
        // SAFETY: the context is retained for this value's lifetime.
        unsafe { cu::ctx::set_current(self.context) }.map_err(driver("cuCtxSetCurrent"))
    }

    /// The module from the PTX built with the crate; or, when there is none
    /// or the driver refuses it, from NVRTC for this device's architecture.
    fn load_module(&self) -> Result<(sys::CUmodule, String)> {
        let mut refused = None;
        if let Some((ptx, arch)) = source::prebuilt_ptx() {
            let image = CString::new(ptx).map_err(|_| failure("the built PTX contains a NUL"))?;
            // SAFETY: a NUL-terminated PTX image.
            match unsafe { cu::module::load_data(image.as_ptr().cast()) } {
                Ok(module) => return Ok((module, format!("PTX built for {arch}"))),
                Err(e) => {
                    refused = Some(format!("the driver refused the PTX built for {arch} ({e})"))
                }
            }
        }
        let (major, minor) = self.capability;
        let ptx = nvrtc::compile(major, minor).map_err(|why| {
            failure(match &refused {
                Some(r) => format!("{r}, and NVRTC failed: {why}"),
                None => {
                    format!("no PTX was built with the crate (no nvcc), and NVRTC failed: {why}")
                }
            })
        })?;
        let image = CString::new(ptx).map_err(|_| failure("NVRTC's PTX contains a NUL"))?;
        // SAFETY: a NUL-terminated PTX image.
        let module = unsafe { cu::module::load_data(image.as_ptr().cast()) }
            .map_err(driver("loading NVRTC's PTX"))?;
        let compiler = nvrtc::describe().unwrap_or_else(|_| "NVRTC".into());
        Ok((module, format!("{compiler} for compute_{major}{minor}")))
    }
}

impl Device for DriverDevice {
    fn describe(&self) -> String {
        let (major, minor) = self.capability;
        format!(
            "{} (sm_{major}{minor}, {} SMs, {})",
            self.name, self.multiprocessors, self.ptx_origin
        )
    }

    fn multiprocessors(&self) -> u32 {
        self.multiprocessors
    }

    fn fast_f16(&self) -> bool {
        // sm_61 (consumer Pascal) runs f16 at 1/64 rate; the others listed
        // here run half2 at twice f32.
        matches!(self.capability, (5, 3) | (6, 0) | (6, 2)) || self.capability.0 >= 7
    }

    fn alloc(&self, bytes: usize) -> Result<DevicePtr> {
        self.make_current()?;
        // SAFETY: plain allocation; the contents are written before use.
        unsafe { cu::malloc_sync(bytes.max(1)) }.map_err(driver("cuMemAlloc"))
    }

    unsafe fn free(&self, ptr: DevicePtr) {
        if self.make_current().is_ok() {
            // SAFETY: the caller passes an allocation of ours, once. A failure
            // here (a context torn down at exit) leaks nothing worth a panic.
            let _ = unsafe { cu::free_sync(ptr) };
        }
    }

    unsafe fn upload(&self, dst: DevicePtr, src: &[u8]) -> Result<()> {
        self.make_current()?;
        // SAFETY: the caller guarantees the destination's size.
        unsafe { cu::memcpy_htod_sync(dst, src) }.map_err(driver("copy to the GPU"))
    }

    unsafe fn download(&self, src: DevicePtr, dst: &mut [u8]) -> Result<()> {
        self.make_current()?;
        // A synchronous copy on the legacy default stream waits for the
        // launches before it, and reports their faults.
        // SAFETY: the caller guarantees the source's size.
        unsafe { cu::memcpy_dtoh_sync(dst, src) }.map_err(driver("kernel or copy from the GPU"))
    }

    fn synchronize(&self) -> Result<()> {
        self.make_current()?;
        cu::ctx::synchronize().map_err(driver("cuCtxSynchronize"))
    }

    unsafe fn launch(&self, launch: &Launch) -> Result<()> {
        self.make_current()?;
        let function = self.functions[launch.kernel.index()];
        let bytes = launch.args.as_bytes();
        // The driver copies the by-value struct out of this pointer at launch.
        let mut params = [bytes.as_ptr() as *mut c_void];
        let [gx, gy, gz] = launch.grid;
        let [bx, by, bz] = launch.block;
        // SAFETY: the caller guarantees the addresses in the arguments.
        unsafe {
            cu::launch_kernel(
                function,
                (gx, gy, gz),
                (bx, by, bz),
                0,
                std::ptr::null_mut(),
                &mut params,
            )
        }
        .map_err(|e| failure(format!("launching {}: {e}", launch.kernel.name())))
    }
}

impl Drop for DriverDevice {
    fn drop(&mut self) {
        if self.make_current().is_ok() && !self.module.is_null() {
            // SAFETY: loaded in `open`, unloaded once.
            let _ = unsafe { cu::module::unload(self.module) };
        }
        // A CUDA 10.2 driver has only the unversioned release, which cudarc
        // does not bind; there the context is released at process exit.
        // SAFETY: only looks the symbol up.
        let has_release_v2 = unsafe {
            sys::culib()
                .get::<unsafe extern "C" fn()>(b"cuDevicePrimaryCtxRelease_v2")
                .is_ok()
        };
        if has_release_v2 {
            // SAFETY: retained in `open`.
            let _ = unsafe { cu::primary_ctx::release(self.device) };
        }
    }
}
