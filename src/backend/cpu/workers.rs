//! A worker pool whose threads can be pinned to chosen cores, so that a layer
//! can be mapped onto one cluster of a big.LITTLE CPU.

use std::sync::Arc;

use rayon::prelude::*;

use crate::error::{Error, Result};

#[derive(Clone)]
pub(crate) struct Workers {
    /// `None`: run on the caller's thread (one unpinned thread).
    pool: Option<Arc<rayon::ThreadPool>>,
    threads: usize,
    cores: Option<Vec<usize>>,
}

impl Workers {
    pub fn new(threads: usize, cores: Option<Vec<usize>>) -> Result<Self> {
        if threads == 0 {
            return Err(Error::ThreadPool("thread count must be at least 1".into()));
        }
        if let Some(cores) = &cores {
            if cores.is_empty() {
                return Err(Error::ThreadPool("core list is empty".into()));
            }
            let online = std::thread::available_parallelism().map_or(1, |n| n.get());
            if let Some(bad) = cores.iter().find(|&&c| c >= libc::CPU_SETSIZE as usize) {
                return Err(Error::ThreadPool(format!(
                    "core {bad} is out of range ({online} cores online)"
                )));
            }
        }
        if threads == 1 && cores.is_none() {
            return Ok(Self {
                pool: None,
                threads,
                cores,
            });
        }
        let pin_to = cores.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("groupscale-{i}"))
            .start_handler(move |i| {
                if let Some(cores) = &pin_to {
                    // Pinning is best effort: a core that went offline leaves the
                    // worker unpinned rather than failing a running layer.
                    let _ = pin_current_thread(cores[i % cores.len()]);
                }
            })
            .build()
            .map_err(|e| Error::ThreadPool(e.to_string()))?;
        Ok(Self {
            pool: Some(Arc::new(pool)),
            threads,
            cores,
        })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn cores(&self) -> Option<&[usize]> {
        self.cores.as_deref()
    }

    /// Runs `task(0..tasks)`, in parallel when there is a pool.
    pub fn run(&self, tasks: usize, task: impl Fn(usize) + Sync + Send) {
        match &self.pool {
            Some(pool) if tasks > 1 => pool.install(|| (0..tasks).into_par_iter().for_each(task)),
            Some(pool) => pool.install(|| (0..tasks).for_each(task)),
            None => (0..tasks).for_each(task),
        }
    }
}

#[cfg(target_os = "linux")]
fn pin_current_thread(core: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET stays in bounds because
    // `core < CPU_SETSIZE` was checked in `Workers::new`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn pin_current_thread(_core: usize) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "pinning needs Linux",
    ))
}

/// A raw pointer that parallel tasks share to write disjoint parts of one
/// buffer. Whoever dereferences it proves the parts are disjoint.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(*mut f32);

// SAFETY: the pointer is only dereferenced by tasks writing disjoint ranges.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    pub fn new(slice: &mut [f32]) -> Self {
        Self(slice.as_mut_ptr())
    }

    /// Through a method, so closures capture the whole (Sync) wrapper rather
    /// than the raw pointer field alone.
    pub fn ptr(self) -> *mut f32 {
        self.0
    }
}

/// A read-only pointer that parallel tasks share (an input that may be the
/// caller's slice or an internal buffer).
#[derive(Clone, Copy)]
pub(crate) struct SharedConst(*const f32);

// SAFETY: only read while the buffer it points into is borrowed by the caller.
unsafe impl Send for SharedConst {}
unsafe impl Sync for SharedConst {}

impl SharedConst {
    pub fn new(ptr: *const f32) -> Self {
        Self(ptr)
    }

    pub fn ptr(self) -> *const f32 {
        self.0
    }
}
