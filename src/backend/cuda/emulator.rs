//! The CPU emulator as a [`Device`]: "device" memory is host memory and a
//! launch runs the kernels' C++ build (`kernels/emulator/`) block by block.
//! Only built with the `cuda-emulator` feature, for tests on machines
//! without a GPU.
//!
//! Its memory is made to fail loudly where a GPU's would fail silently:
//!
//! - **Poisoned.** Every fresh allocation is filled with 0xFF bytes: NaN as
//!   f32 (0xFFFF_FFFF) and as f16 (0xFFFF) at any alignment, so a kernel
//!   that reads memory nobody wrote computes NaN and fails the oracle
//!   comparison. `cuMemAlloc` does not zero memory either: nothing may rely
//!   on fresh device memory being zero.
//! - **Guarded.** Every allocation is its own `mmap`, with a `PROT_NONE`
//!   page before and after the pages that hold it, and is freed with
//!   `munmap`. By default ([`Placement::End`]) the buffer ends exactly where
//!   the guard page after it starts, so a kernel (or copy) that touches one
//!   byte past the end dies by SIGSEGV in the launch that does it. The
//!   start is then `end - bytes`, which is as aligned as the size: a buffer
//!   of 4n bytes is 4-aligned, of 2n bytes 2-aligned, the natural alignment
//!   of the f32 and f16 elements the kernels load, one at a time (they load
//!   nothing wider: no float4, no half2 from memory). It is not the 256
//!   bytes `cuMemAlloc` guarantees; a kernel that comes to need that must
//!   use `start`. Reads before the start fault only once they pass the
//!   slack in front of the buffer, which is poisoned, so they read NaN.
//!   `GROUPSCALE_EMULATOR_GUARD=start` ([`Placement::Start`]) puts the
//!   buffer at the start of its pages instead: page-aligned (so 256-aligned
//!   as on a GPU), reads before the start fault at once, and reads past the
//!   end read poison until they reach the guard page. Run the suite both
//!   ways.
//! - **Checked.** A launch whose address arguments are not inside live
//!   allocations (a freed buffer, a host pointer, a null input) is an
//!   error, not a silent read; so is an upload or download that would
//!   cross an allocation's end.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Mutex;

use super::args::{Args, DevicePtr};
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

/// Every byte of fresh device memory: NaN as f32 and as f16.
pub const POISON: u8 = 0xFF;

/// Where a buffer sits in its pages, between its two guard pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Ends at the guard page after it: any over-read faults.
    End,
    /// Starts at the guard page before it (page-aligned): any under-read
    /// faults.
    Start,
}

impl Placement {
    /// `GROUPSCALE_EMULATOR_GUARD=end|start`, `end` when unset.
    ///
    /// # Panics
    /// On any other value: the emulator is for tests, and a test run that
    /// silently guards the other end would claim checks it did not make.
    pub fn from_env() -> Self {
        match crate::settings::EMULATOR_GUARD
            .value()
            .as_deref()
            .map(str::trim)
        {
            None | Some("end") => Self::End,
            Some("start") => Self::Start,
            Some(other) => panic!("GROUPSCALE_EMULATOR_GUARD={other}: expected end or start"),
        }
    }
}

/// One allocation: the whole mapping (guard pages included), and the
/// buffer's place in it.
#[derive(Clone, Copy, Debug)]
struct Mapping {
    base: usize,
    len: usize,
    bytes: usize,
}

pub struct Emulator {
    /// Live allocations by their device address, to free them, to refuse
    /// double frees and to check the addresses a launch gets.
    allocations: Mutex<BTreeMap<DevicePtr, Mapping>>,
    fast_f16: bool,
    placement: Placement,
}

impl Emulator {
    /// `fast_f16` plays a device with fast f16 arithmetic, so the half2
    /// kernels can be chosen and tested. Buffers are placed as
    /// `GROUPSCALE_EMULATOR_GUARD` says ([`Placement::from_env`]).
    pub fn new(fast_f16: bool) -> Self {
        Self::with_placement(fast_f16, Placement::from_env())
    }

    pub fn with_placement(fast_f16: bool, placement: Placement) -> Self {
        Self {
            allocations: Mutex::default(),
            fast_f16,
            placement,
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, BTreeMap<DevicePtr, Mapping>> {
        self.allocations.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live allocation holding `ptr`, as (its address, its size).
    fn holding(&self, ptr: DevicePtr) -> Option<(DevicePtr, usize)> {
        let live = self.live();
        let (&start, m) = live.range(..=ptr).next_back()?;
        (ptr - start < m.bytes as u64).then_some((start, m.bytes))
    }

    /// Panics unless `[ptr, ptr + len)` lies in one live allocation: the
    /// caller of `upload` or `download` broke its safety contract.
    fn check_copy(&self, what: &str, ptr: DevicePtr, len: usize) {
        if len == 0 {
            return;
        }
        match self.holding(ptr) {
            Some((start, bytes)) if ptr - start + len as u64 <= bytes as u64 => {}
            Some((start, bytes)) => panic!(
                "emulated {what} of {len} bytes at offset {} of a {bytes}-byte device allocation: past its end",
                ptr - start
            ),
            None => panic!("emulated {what} at {ptr:#x}: not a live device allocation"),
        }
    }

    /// Every address argument of `args` must lie in a live allocation; only
    /// a bias may be null (no bias).
    fn check_addresses(&self, kernel: &str, args: &Args) -> Result<()> {
        // An array, not a Vec: a launch allocates nothing on the host
        // (tests/switching_k_allocates_nothing.rs counts every one).
        const NONE: (&str, DevicePtr, bool) = ("", 0, true);
        let fields: [(&str, DevicePtr, bool); 4] = match args {
            Args::Conv(a) => [
                ("input", a.input, false),
                ("weights", a.weights, false),
                ("bias", a.bias, true),
                ("output", a.output, false),
            ],
            Args::Dense(a) => [
                ("input", a.input, false),
                ("weights", a.weights, false),
                ("bias", a.bias, true),
                ("output", a.output, false),
            ],
            Args::Pool(a) => [
                ("input", a.input, false),
                ("output", a.output, false),
                NONE,
                NONE,
            ],
            Args::Softmax(a) => [
                ("input", a.input, false),
                ("output", a.output, false),
                NONE,
                NONE,
            ],
        };
        for (name, ptr, nullable) in fields {
            if ptr == 0 && nullable {
                continue;
            }
            if self.holding(ptr).is_none() {
                return Err(failure(format!(
                    "{kernel}: its {name} address {ptr:#x} is not in a live device allocation"
                )));
            }
        }
        Ok(())
    }
}

fn failure(reason: String) -> Error {
    Error::BackendUnavailable {
        backend: BackendKind::Cuda,
        reason,
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf reads a constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page)
        .ok()
        .filter(|&p| p > 0)
        .unwrap_or(4096)
}

/// Maps `bytes` between two `PROT_NONE` guard pages, poisoned, placed as
/// `placement` says. Returns the buffer's address and the mapping.
fn map_guarded(bytes: usize, placement: Placement) -> Result<(usize, Mapping)> {
    let page = page_size();
    let too_big = || failure(format!("allocating {bytes} bytes: too large to map"));
    let data = bytes.div_ceil(page).checked_mul(page).ok_or_else(too_big)?;
    let len = data.checked_add(2 * page).ok_or_else(too_big)?;
    // SAFETY: a fresh anonymous mapping; no existing memory is touched.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(failure(format!(
            "mapping {bytes} bytes of emulated device memory: {}",
            std::io::Error::last_os_error()
        )));
    }
    let base = base as usize;
    let data_start = base + page;
    // SAFETY: the pages between the guards belong to the mapping just made.
    if unsafe {
        libc::mprotect(
            data_start as *mut c_void,
            data,
            libc::PROT_READ | libc::PROT_WRITE,
        )
    } != 0
    {
        let e = std::io::Error::last_os_error();
        // SAFETY: unmapping the mapping just made, which nothing uses.
        unsafe { libc::munmap(base as *mut c_void, len) };
        return Err(failure(format!(
            "protecting {bytes} bytes of emulated device memory: {e}"
        )));
    }
    // SAFETY: those pages are now readable and writable, and only ours.
    unsafe { std::ptr::write_bytes(data_start as *mut u8, POISON, data) };
    let start = match placement {
        Placement::End => data_start + data - bytes,
        Placement::Start => data_start,
    };
    Ok((start, Mapping { base, len, bytes }))
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
        if bytes == 0 {
            // As cuMemAlloc: an address with nothing behind it is no buffer.
            return Err(failure("allocating 0 bytes".into()));
        }
        let (start, mapping) = map_guarded(bytes, self.placement)?;
        let addr = start as DevicePtr;
        self.live().insert(addr, mapping);
        Ok(addr)
    }

    unsafe fn free(&self, ptr: DevicePtr) {
        let mapping = self.live().remove(&ptr);
        if let Some(m) = mapping {
            // SAFETY: mapped by `alloc`, removed from the live set once, so
            // unmapped once; a later use of `ptr` faults.
            unsafe { libc::munmap(m.base as *mut c_void, m.len) };
        }
    }

    unsafe fn upload(&self, dst: DevicePtr, src: &[u8]) -> Result<()> {
        self.check_copy("upload", dst, src.len());
        // SAFETY: checked just above to lie in a live allocation.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
        Ok(())
    }

    unsafe fn download(&self, src: DevicePtr, dst: &mut [u8]) -> Result<()> {
        self.check_copy("download", src, dst.len());
        // SAFETY: checked just above to lie in a live allocation.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    fn synchronize(&self) -> Result<()> {
        // Emulated launches finish before they return.
        Ok(())
    }

    unsafe fn launch(&self, launch: &Launch) -> Result<()> {
        self.check_addresses(launch.kernel.name(), &launch.args)?;
        let mut error = [0 as c_char; 256];
        // SAFETY: the addresses are live allocations (checked above) large
        // enough for the shapes (the caller; a read past one's end faults on
        // its guard page), and the emulator copies nothing beyond the
        // struct's size.
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

#[cfg(test)]
mod tests {
    //! The protections catch what they are for: planted bugs (a kernel
    //! launched on a buffer one element short, an input one element never
    //! uploaded, accesses beside a buffer or after its free), each with the
    //! precise outcome asserted. The faulting ones run in a child process:
    //! this test binary again, with `--exact` and `GROUPSCALE_EMULATOR_PLANT`
    //! naming the bug to plant, and the parent asserts that the child was
    //! killed by SIGSEGV after it reached the planted access.

    use std::os::unix::process::ExitStatusExt;
    use std::process::Output;
    use std::sync::Arc;

    use super::*;
    use crate::backend::cuda::device::{f32_bytes, DeviceBuffer};
    use crate::backend::cuda::kernel::CudaKernel;
    use crate::check::cases::{conv_case, Case};
    use crate::check::selftest::oracle_outputs;
    use crate::check::{compare, tolerance};
    use crate::model::conv::Conv2dSpec;
    use crate::model::group::Connectivity;

    /// Set in a child process to the bug it plants.
    const PLANT: &str = crate::settings::EMULATOR_PLANT.name;
    /// The child's last words before the planted access...
    const REACHED: &str = "planting the bug now";
    /// ...and after it, if the access went unnoticed.
    const UNNOTICED: &str = "the planted access went unnoticed";

    fn device(placement: Placement) -> Arc<dyn Device> {
        Arc::new(Emulator::with_placement(false, placement))
    }

    /// Two groups of 1×1 convolutions (4 → 8 channels), both active, no
    /// ReLU, on a 2×4×3×5 input; seed 7 gives f32 weights and a bias. Every
    /// output sums its group's two input channels at its own pixel, so the
    /// last input element (image 1, channel 3, pixel 14) is read by exactly
    /// the outputs of group 1 (channels 4..8) at image 1, pixel 14.
    fn planted_case() -> Case {
        let spec = Conv2dSpec::new(4, 8, 1, 0, 2, Connectivity::Isolated);
        conv_case("planted", spec, 2, [3, 5], 2, 7)
    }

    /// The output indices that read the last input element.
    fn reading_the_last_input(case: &Case) -> Vec<usize> {
        let out = case.layer.output_shape(case.input.shape, case.k).unwrap();
        assert_eq!((out.n, out.c, out.h, out.w), (2, 8, 3, 5));
        let plane = out.h * out.w;
        (4..8)
            .map(|co| ((out.n - 1) * out.c + co) * plane + plane - 1)
            .collect()
    }

    fn out_len(case: &Case) -> usize {
        case.layer
            .output_shape(case.input.shape, case.k)
            .unwrap()
            .len()
    }

    /// Runs `test` of this module again in a child process, alone, with
    /// `plant` in [`PLANT`].
    fn in_child(test: &str, plant: &str) -> Output {
        let module = module_path!().split_once("::").expect("in a crate").1;
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                &format!("{module}::{test}"),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(PLANT, plant)
            .output()
            .unwrap()
    }

    fn assert_faulted(plant: &str, out: &Output) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stderr.contains(REACHED) && !stderr.contains(UNNOTICED),
            "{plant}: the child did not stop at the planted access ({:?}):\n{stdout}\n{stderr}",
            out.status
        );
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGSEGV),
            "{plant}: the child was not killed by SIGSEGV ({:?}):\n{stdout}\n{stderr}",
            out.status
        );
    }

    /// In a child: plants the bug its [`PLANT`] names and returns true; in
    /// the parent: false.
    fn planted_in_child() -> bool {
        let Ok(plant) = std::env::var(PLANT) else {
            return false;
        };
        // The child is meant to die by SIGSEGV: no core file for it.
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
        match plant.as_str() {
            "kernel-over-read" => kernel_over_read(),
            "kernel-over-write" => kernel_over_write(),
            "past-the-end" | "before-the-start" | "after-free" => raw_access(&plant),
            other => panic!("no bug named {other} to plant"),
        }
        true
    }

    /// The conv launched on an input buffer one element shorter than the
    /// shape it is given: the kernel reads that element past the end.
    fn kernel_over_read() {
        let case = planted_case();
        let device = device(Placement::End);
        let kernel = CudaKernel::new(device.clone(), &case.layer, false, None).unwrap();
        let (shape, data) = (case.input.shape, &case.input.data);
        let output = DeviceBuffer::new(&device, 4 * out_len(&case)).unwrap();
        // In bounds, the same launch runs.
        let whole = DeviceBuffer::with_data(&device, f32_bytes(data)).unwrap();
        // SAFETY: both buffers hold what the shape needs.
        unsafe { kernel.launch_on_device(shape, case.k, whole.ptr(), output.ptr()) }.unwrap();
        let short = DeviceBuffer::with_data(&device, f32_bytes(&data[..data.len() - 1])).unwrap();
        eprintln!("{REACHED}");
        // SAFETY: none: the input is one element short, which must fault.
        let result = unsafe { kernel.launch_on_device(shape, case.k, short.ptr(), output.ptr()) };
        eprintln!("{UNNOTICED}: {result:?}");
    }

    /// The conv launched on an output buffer one element short.
    fn kernel_over_write() {
        let case = planted_case();
        let device = device(Placement::End);
        let kernel = CudaKernel::new(device.clone(), &case.layer, false, None).unwrap();
        let input = DeviceBuffer::with_data(&device, f32_bytes(&case.input.data)).unwrap();
        let short = DeviceBuffer::new(&device, 4 * (out_len(&case) - 1)).unwrap();
        eprintln!("{REACHED}");
        // SAFETY: none: the output is one element short, which must fault.
        let result =
            unsafe { kernel.launch_on_device(case.input.shape, case.k, input.ptr(), short.ptr()) };
        eprintln!("{UNNOTICED}: {result:?}");
    }

    /// One byte read beside a 40-byte buffer: just past its end (end
    /// placement), just before its start (start placement), or anywhere in
    /// it once freed.
    fn raw_access(plant: &str) {
        let placement = match plant {
            "before-the-start" => Placement::Start,
            _ => Placement::End,
        };
        let emulator = Emulator::with_placement(false, placement);
        let ptr = emulator.alloc(40).unwrap() as usize;
        let at = match plant {
            "past-the-end" => ptr + 40,
            "before-the-start" => ptr - 1,
            _ => {
                // SAFETY: allocated just above, freed once.
                unsafe { emulator.free(ptr as DevicePtr) };
                ptr
            }
        };
        eprintln!("{REACHED}");
        // SAFETY: none: the byte is not the buffer's, which must fault.
        let byte = unsafe { std::ptr::read_volatile(at as *const u8) };
        eprintln!("{UNNOTICED}: read {byte:#x}");
    }

    #[test]
    fn a_kernel_reading_one_element_past_its_input_faults() {
        if planted_in_child() {
            return;
        }
        let plant = "kernel-over-read";
        let out = in_child("a_kernel_reading_one_element_past_its_input_faults", plant);
        assert_faulted(plant, &out);
    }

    #[test]
    fn a_kernel_writing_one_element_past_its_output_faults() {
        if planted_in_child() {
            return;
        }
        let plant = "kernel-over-write";
        let out = in_child("a_kernel_writing_one_element_past_its_output_faults", plant);
        assert_faulted(plant, &out);
    }

    #[test]
    fn guard_pages_and_free_fault() {
        if planted_in_child() {
            return;
        }
        for plant in ["past-the-end", "before-the-start", "after-free"] {
            assert_faulted(plant, &in_child("guard_pages_and_free_fault", plant));
        }
    }

    #[test]
    fn a_kernel_reading_memory_nobody_wrote_computes_nan() {
        let case = planted_case();
        let want = &oracle_outputs(std::slice::from_ref(&case))[0].data;
        let device = device(Placement::End);
        let kernel = CudaKernel::new(device.clone(), &case.layer, false, None).unwrap();
        let (shape, data) = (case.input.shape, &case.input.data);
        let input = DeviceBuffer::new(&device, 4 * data.len()).unwrap();
        // The planted bug: the last input element is never uploaded.
        input.upload_f32(&data[..data.len() - 1]).unwrap();
        let output = DeviceBuffer::new(&device, 4 * out_len(&case)).unwrap();
        // SAFETY: both buffers hold what the shape needs.
        unsafe { kernel.launch_on_device(shape, case.k, input.ptr(), output.ptr()) }.unwrap();
        let mut got = vec![0.0; out_len(&case)];
        output.download_f32(&mut got).unwrap();
        let poisoned = reading_the_last_input(&case);
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            if poisoned.contains(&i) {
                assert!(g.is_nan(), "output {i} reads the missing input: got {g}");
            } else {
                let allowed = tolerance(case.depth(), w);
                assert!((g - w).abs() <= allowed, "output {i}: {g}, expected {w}");
            }
        }
        // The oracle comparison reports the first of them.
        let mismatch = compare(want, &got, case.depth()).unwrap_err();
        assert_eq!(mismatch.index, poisoned[0]);
        assert!(mismatch.got.is_nan());
    }

    #[test]
    fn fresh_memory_is_nan_between_guard_pages() {
        assert!(f32::from_bits(u32::from_ne_bytes([POISON; 4])).is_nan());
        assert!(half::f16::from_bits(u16::from_ne_bytes([POISON; 2])).is_nan());
        let page = page_size();
        for placement in [Placement::End, Placement::Start] {
            let emulator = Emulator::with_placement(false, placement);
            assert!(emulator.alloc(0).is_err());
            for bytes in [2, 4, 6, 28, 256, 1000, page, page + 4, 3 * page + 2] {
                let ptr = emulator.alloc(bytes).unwrap();
                let at = ptr as usize;
                match placement {
                    Placement::End => {
                        assert_eq!((at + bytes) % page, 0, "{bytes} bytes end at a page");
                        // As aligned as the size: 4n bytes 4-aligned, 2n 2-aligned.
                        let size_alignment = (bytes & bytes.wrapping_neg()).min(page);
                        assert_eq!(at % size_alignment, 0, "{bytes} bytes at {at:#x}");
                    }
                    Placement::Start => assert_eq!(at % page, 0, "{bytes} bytes at {at:#x}"),
                }
                let mut back = vec![0; bytes];
                // SAFETY: the allocation holds `bytes`.
                unsafe { emulator.download(ptr, &mut back) }.unwrap();
                assert!(back.iter().all(|&b| b == POISON), "{placement:?} {bytes}");
                // SAFETY: allocated just above, freed once.
                unsafe { emulator.free(ptr) };
            }
        }
    }

    #[test]
    fn a_launch_on_a_freed_buffer_is_an_error() {
        let case = planted_case();
        let device = device(Placement::End);
        let kernel = CudaKernel::new(device.clone(), &case.layer, false, None).unwrap();
        let output = DeviceBuffer::new(&device, 4 * out_len(&case)).unwrap();
        let input = DeviceBuffer::with_data(&device, f32_bytes(&case.input.data)).unwrap();
        let freed = input.ptr();
        drop(input);
        // SAFETY: none needed: the emulator refuses before running.
        let err = unsafe { kernel.launch_on_device(case.input.shape, case.k, freed, output.ptr()) }
            .unwrap_err();
        assert!(err.to_string().contains("input address"), "{err}");
    }

    #[test]
    #[should_panic(expected = "past its end")]
    fn an_upload_past_the_end_panics() {
        let emulator = Emulator::with_placement(false, Placement::Start);
        let ptr = emulator.alloc(8).unwrap();
        // SAFETY: none: the copy is refused before it starts.
        let _ = unsafe { emulator.upload(ptr, &[0; 12]) };
    }
}
