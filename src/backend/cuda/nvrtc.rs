//! NVRTC, the run-time CUDA compiler, loaded by hand. cudarc looks for it
//! only as `libnvrtc.so` or `.so.{9,10,11,12}` on the loader's path, but
//! CUDA 13 ships `libnvrtc.so.13`, JetPack 4 `libnvrtc.so.10.2`, and both
//! keep it in the toolkit's own directory, which is often off that path.
//!
//! `GROUPSCALE_NVRTC=/path/to/libnvrtc.so.N` names the library; then no
//! other is tried. The calls used all exist in CUDA 10.2's NVRTC.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::PathBuf;
use std::ptr;
use std::sync::OnceLock;

use libloading::Library;

use crate::settings;

type Program = *mut c_void;
type Status = c_int;

/// The functions this crate calls, bound once.
struct Nvrtc {
    version: (c_int, c_int),
    path: PathBuf,
    create: unsafe extern "C" fn(
        *mut Program,
        *const c_char,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) -> Status,
    compile: unsafe extern "C" fn(Program, c_int, *const *const c_char) -> Status,
    log_size: unsafe extern "C" fn(Program, *mut usize) -> Status,
    log: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    ptx_size: unsafe extern "C" fn(Program, *mut usize) -> Status,
    ptx: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    destroy: unsafe extern "C" fn(*mut Program) -> Status,
    error_string: unsafe extern "C" fn(Status) -> *const c_char,
    // Keeps the function pointers above valid; never unloaded.
    _library: Library,
}

/// Where to look: the name the caller gave, else each known soname on the
/// loader's path and then in the usual toolkit directories.
fn candidates() -> Vec<PathBuf> {
    if let Some(path) = settings::NVRTC.value() {
        return vec![PathBuf::from(path)];
    }
    let names = [
        "libnvrtc.so",
        "libnvrtc.so.13",
        "libnvrtc.so.12",
        "libnvrtc.so.11.2",
        "libnvrtc.so.11",
        "libnvrtc.so.10.2",
    ];
    let mut dirs: Vec<PathBuf> = ["CUDA_HOME", "CUDA_PATH"]
        .into_iter()
        .filter_map(std::env::var_os)
        .map(|root| PathBuf::from(root).join("lib64"))
        .collect();
    dirs.push("/usr/local/cuda/lib64".into());
    dirs.push(
        format!(
            "/usr/local/cuda/targets/{}-linux/lib",
            std::env::consts::ARCH
        )
        .into(),
    );
    let on_loader_path = names.iter().map(PathBuf::from);
    let in_toolkit = dirs
        .iter()
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)));
    on_loader_path.chain(in_toolkit).collect()
}

impl Nvrtc {
    fn load() -> Result<Self, String> {
        let tried = candidates();
        for path in &tried {
            // SAFETY: loading NVRTC runs only its (trivial) initialisers.
            let Ok(library) = (unsafe { Library::new(path) }) else {
                continue;
            };
            return Self::bind(library, path.clone())
                .map_err(|name| format!("{} has no {name}: not NVRTC?", path.display()));
        }
        let names: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        Err(format!(
            "libnvrtc was not found (set GROUPSCALE_NVRTC to its path); tried {}",
            if settings::NVRTC.value().is_some() {
                names.join(", ")
            } else {
                format!("{} names", names.len())
            }
        ))
    }

    fn bind(library: Library, path: PathBuf) -> Result<Self, String> {
        /// # Safety
        /// `T` must be the C signature of `name`.
        unsafe fn function<T: Copy>(library: &Library, name: &str) -> Result<T, String> {
            library
                .get::<T>(name.as_bytes())
                .map(|f| *f)
                .map_err(|_| name.to_string())
        }
        // SAFETY: each symbol is bound to its signature in nvrtc.h, the same
        // in every NVRTC version since CUDA 7.
        unsafe {
            let version: unsafe extern "C" fn(*mut c_int, *mut c_int) -> Status =
                function(&library, "nvrtcVersion")?;
            let (mut major, mut minor) = (0, 0);
            version(&mut major, &mut minor);
            Ok(Self {
                version: (major, minor),
                path,
                create: function(&library, "nvrtcCreateProgram")?,
                compile: function(&library, "nvrtcCompileProgram")?,
                log_size: function(&library, "nvrtcGetProgramLogSize")?,
                log: function(&library, "nvrtcGetProgramLog")?,
                ptx_size: function(&library, "nvrtcGetPTXSize")?,
                ptx: function(&library, "nvrtcGetPTX")?,
                destroy: function(&library, "nvrtcDestroyProgram")?,
                error_string: function(&library, "nvrtcGetErrorString")?,
                _library: library,
            })
        }
    }

    fn check(&self, what: &str, status: Status) -> Result<(), String> {
        if status == 0 {
            return Ok(());
        }
        // SAFETY: NVRTC returns a static string for any status.
        let name = unsafe { CStr::from_ptr((self.error_string)(status)) };
        Err(format!("{what}: {}", name.to_string_lossy()))
    }

    /// Compiles `source` with `options`; on failure, the error carries the
    /// compiler's log.
    fn compile_ptx(&self, source: &str, options: &[String]) -> Result<String, String> {
        let source = CString::new(source).map_err(|_| "the kernel source contains a NUL")?;
        let options = options
            .iter()
            .map(|o| CString::new(o.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| "an NVRTC option contains a NUL")?;
        let option_ptrs: Vec<*const c_char> = options.iter().map(|o| o.as_ptr()).collect();
        let mut program: Program = ptr::null_mut();
        // SAFETY: valid NUL-terminated strings that outlive the calls; the
        // program is destroyed below on every path.
        unsafe {
            self.check(
                "nvrtcCreateProgram",
                (self.create)(
                    &mut program,
                    source.as_ptr(),
                    c"groupscale_kernels.cu".as_ptr(),
                    0,
                    ptr::null(),
                    ptr::null(),
                ),
            )?;
            let result = self.compile_created(program, &option_ptrs);
            (self.destroy)(&mut program);
            result
        }
    }

    /// # Safety
    /// `program` must be a live NVRTC program.
    unsafe fn compile_created(
        &self,
        program: Program,
        options: &[*const c_char],
    ) -> Result<String, String> {
        let compiled = (self.compile)(program, options.len() as c_int, options.as_ptr());
        if let Err(why) = self.check("nvrtcCompileProgram", compiled) {
            let log = self
                .read(program, self.log_size, self.log)
                .unwrap_or_default();
            return Err(format!("{why}\n{log}"));
        }
        self.read(program, self.ptx_size, self.ptx)
    }

    /// # Safety
    /// `program` must be a live NVRTC program, and `size` and `read` one of
    /// NVRTC's size/contents pairs.
    unsafe fn read(
        &self,
        program: Program,
        size: unsafe extern "C" fn(Program, *mut usize) -> Status,
        read: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    ) -> Result<String, String> {
        let mut len = 0usize;
        self.check("NVRTC size query", size(program, &mut len))?;
        let mut bytes = vec![0u8; len.max(1)];
        self.check("NVRTC read", read(program, bytes.as_mut_ptr().cast()))?;
        let text = CStr::from_bytes_until_nul(&bytes).map_err(|_| "NVRTC output has no NUL")?;
        Ok(text.to_string_lossy().into_owned())
    }
}

/// NVRTC, loaded on first use; the outcome is kept for the process.
fn nvrtc() -> Result<&'static Nvrtc, String> {
    static NVRTC: OnceLock<Result<Nvrtc, String>> = OnceLock::new();
    NVRTC
        .get_or_init(Nvrtc::load)
        .as_ref()
        .map_err(Clone::clone)
}

/// Which NVRTC this process uses: "NVRTC 12.9 (/path/libnvrtc.so.12)".
pub fn describe() -> Result<String, String> {
    let n = nvrtc()?;
    Ok(format!(
        "NVRTC {}.{} ({})",
        n.version.0,
        n.version.1,
        n.path.display()
    ))
}

/// Compiles the embedded kernel source to PTX for compute capability
/// `major.minor`.
pub fn compile(major: i32, minor: i32) -> Result<String, String> {
    let options = [format!("--gpu-architecture=compute_{major}{minor}")];
    nvrtc()?.compile_ptx(super::source::SOURCE, &options)
}
