//! A low-latency worker pool whose threads can be pinned to chosen cores, so
//! that a layer can be mapped onto one cluster of a big.LITTLE CPU.
//!
//! Layers at batch 1 last tens of microseconds, so waking sleeping threads
//! through the kernel for every layer would cost as much as the layer. Workers
//! therefore spin for a while after each job before they park, the calling
//! thread takes a share of the tasks, and a job lives on the caller's stack:
//! running one allocates nothing.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long an idle worker spins before parking; longer than the gap
/// between two layers of a network, short enough not to burn a core for long.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(300);

#[derive(Clone)]
pub(crate) struct Workers {
    /// `None`: one unpinned thread, the caller's.
    pool: Option<Arc<Pool>>,
    threads: usize,
    cores: Option<Vec<usize>>,
}

impl Workers {
    pub fn new(threads: usize, cores: Option<Vec<usize>>) -> Result<Self> {
        if threads == 0 {
            return Err(Error::ThreadPool("thread count must be at least 1".into()));
        }
        if let Some(cores) = &cores {
            check_cores(cores)?;
        }
        // The caller is always one of the threads. When pinned, it joins the
        // pool's cores for the duration of each call (see `Pool::run`):
        // waiting instead would either compete with the workers for those
        // cores (spinning) or pay a slow wake-up per layer (sleeping).
        let pool = match (&cores, threads) {
            (None, 1) => None,
            _ => Some(Pool::start(threads - 1, cores.clone())?),
        };
        Ok(Self {
            pool,
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

    /// Runs `task(t, worker)` for t in 0..tasks, spread over the pool, and
    /// returns when all are done. `worker < threads()` names the thread, so a
    /// task may use per-worker scratch space.
    pub fn run(&self, tasks: usize, task: impl Fn(usize, usize) + Sync) {
        match &self.pool {
            Some(pool) if tasks > 1 || pool.cores.is_some() => pool.run(tasks, &task),
            _ => (0..tasks).for_each(|t| task(t, 0)),
        }
    }
}

/// One parallel call, on the caller's stack.
struct Job<'a> {
    task: &'a (dyn Fn(usize, usize) + Sync),
    tasks: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
}

impl Job<'_> {
    fn work(&self, worker: usize) {
        loop {
            let t = self.next.fetch_add(1, Relaxed);
            if t >= self.tasks {
                return;
            }
            if catch_unwind(AssertUnwindSafe(|| (self.task)(t, worker))).is_err() {
                self.panicked.store(true, Relaxed);
            }
            self.done.fetch_add(1, Release);
        }
    }
}

struct Shared {
    /// Bumped for every job; workers watch it.
    epoch: AtomicU64,
    /// The current job, or null. Erased lifetime: see `Pool::run`.
    job: AtomicPtr<Job<'static>>,
    /// Workers currently looking at `job`.
    active: AtomicUsize,
    parked: AtomicUsize,
    /// Workers that have started; `Pool::start` waits for all of them.
    started: AtomicUsize,
    shutdown: AtomicBool,
    park: Mutex<()>,
    wake: Condvar,
}

struct Pool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    /// The cores the pool is pinned to, which the caller joins per call.
    cores: Option<Vec<usize>>,
    /// One job at a time: kernels sharing the pool may run from several threads.
    running: Mutex<()>,
}

impl Pool {
    fn start(workers: usize, cores: Option<Vec<usize>>) -> Result<Arc<Self>> {
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            active: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            park: Mutex::new(()),
            wake: Condvar::new(),
        });
        let mut pool = Pool {
            shared: shared.clone(),
            handles: Vec::with_capacity(workers),
            cores: cores.clone(),
            running: Mutex::new(()),
        };
        // Each worker says whether the kernel accepted its pin.
        let (pinned, pins) = std::sync::mpsc::channel::<(usize, std::io::Error)>();
        for i in 0..workers {
            let shared = shared.clone();
            let pinned = pinned.clone();
            // The caller is worker 0; with cores, it takes the first core.
            let id = i + 1;
            let core = cores.as_ref().map(|c| c[id % c.len()]);
            let handle = std::thread::Builder::new()
                .name(format!("groupscale-{i}"))
                .spawn(move || {
                    if let Some(core) = core {
                        if let Err(e) = pin_current_thread(core) {
                            let _ = pinned.send((core, e));
                        }
                    }
                    drop(pinned);
                    shared.started.fetch_add(1, SeqCst);
                    worker_loop(&shared, id);
                })
                .map_err(|e| Error::ThreadPool(format!("cannot start a worker thread: {e}")))?;
            pool.handles.push(handle);
        }
        // Return only once every worker runs: thread start-up (which
        // allocates inside std) then never overlaps a caller's first layers.
        wait_until(|| shared.started.load(SeqCst) == workers);
        drop(pinned);
        if let Ok((core, e)) = pins.try_recv() {
            // Dropping the pool stops and joins the workers.
            drop(pool);
            return Err(pin_refused(core, &e));
        }
        Ok(Arc::new(pool))
    }

    fn run(&self, tasks: usize, task: &(dyn Fn(usize, usize) + Sync)) {
        let _one_at_a_time = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let job = Job {
            task,
            tasks,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
        };
        let s = &*self.shared;
        // SAFETY: workers dereference `job` only between incrementing `active`
        // and decrementing it, after seeing it non-null; below, we null it and
        // then wait for `active` to reach zero before `job` goes out of scope.
        // With SeqCst on both sides a worker either is counted in `active`
        // or sees null.
        s.job.store(&job as *const Job as *mut Job<'static>, SeqCst);
        s.epoch.fetch_add(1, SeqCst);
        if s.parked.load(SeqCst) > 0 {
            let _guard = s.park.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        {
            let _on_pool_cores = self.cores.as_deref().map(CallerAffinity::join);
            job.work(0);
        }
        wait_until(|| job.done.load(Acquire) == tasks);
        s.job.store(std::ptr::null_mut(), SeqCst);
        wait_until(|| s.active.load(SeqCst) == 0);
        if job.panicked.load(Relaxed) {
            panic!("a groupscale worker task panicked");
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, SeqCst);
        {
            let _guard = self.shared.park.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

fn worker_loop(s: &Shared, id: usize) {
    // The epoch at creation, not now: a job published before this thread got
    // here must still be picked up.
    let mut seen = 0;
    loop {
        let mut idle_since = Instant::now();
        let mut spins = 0u32;
        loop {
            if s.shutdown.load(Relaxed) {
                return;
            }
            let epoch = s.epoch.load(Acquire);
            if epoch != seen {
                seen = epoch;
                break;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) || idle_since.elapsed() < SPIN_BEFORE_PARK {
                std::hint::spin_loop();
                continue;
            }
            let guard = s.park.lock().unwrap_or_else(|e| e.into_inner());
            s.parked.fetch_add(1, SeqCst);
            // Checked under the lock that `run` takes to notify: no lost wake-up.
            if s.epoch.load(SeqCst) == seen && !s.shutdown.load(SeqCst) {
                drop(s.wake.wait(guard).unwrap_or_else(|e| e.into_inner()));
            } else {
                drop(guard);
            }
            s.parked.fetch_sub(1, SeqCst);
            idle_since = Instant::now();
        }
        s.active.fetch_add(1, SeqCst);
        let job = s.job.load(SeqCst);
        if !job.is_null() {
            // SAFETY: see `Pool::run`; counted in `active`, so `job` is alive.
            unsafe { (*job).work(id) };
        }
        s.active.fetch_sub(1, SeqCst);
    }
}

/// Spins briefly, then yields: a waiting caller must not starve the workers
/// it waits for on a machine with few cores.
fn wait_until(done: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !done() {
        spins = spins.saturating_add(1);
        if spins < 2_000 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// The calling thread's affinity, narrowed to a pool's cores until dropped.
struct CallerAffinity {
    #[cfg(target_os = "linux")]
    previous: Option<libc::cpu_set_t>,
}

impl CallerAffinity {
    /// Best effort, per call: a core that went offline since the pool was
    /// made leaves the caller where it was rather than failing a layer.
    fn join(cores: &[usize]) -> Self {
        Self::try_join(cores).unwrap_or(Self {
            #[cfg(target_os = "linux")]
            previous: None,
        })
    }

    fn try_join(cores: &[usize]) -> std::io::Result<Self> {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: cpu_set_t is plain data; cores were checked to be below
            // CPU_SETSIZE in `Workers::new`.
            unsafe {
                let size = std::mem::size_of::<libc::cpu_set_t>();
                let mut previous: libc::cpu_set_t = std::mem::zeroed();
                if libc::sched_getaffinity(0, size, &mut previous) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &core in cores {
                    libc::CPU_SET(core, &mut set);
                }
                if libc::sched_setaffinity(0, size, &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(Self {
                    previous: Some(previous),
                })
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = cores;
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "pinning needs Linux",
            ))
        }
    }
}

impl Drop for CallerAffinity {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(previous) = &self.previous {
            // SAFETY: restoring the mask read in `join`.
            unsafe {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), previous);
            }
        }
    }
}

/// Checks a core list where the backend is configured (so `--cores` and
/// `GROUPSCALE_CORES` alike): every core must be online, and the kernel must
/// accept the calling thread on them (it joins the pool's cores per call).
fn check_cores(cores: &[usize]) -> Result<()> {
    if cores.is_empty() {
        return Err(Error::ThreadPool("core list is empty".into()));
    }
    let online = online_cores();
    if let Some(bad) = cores.iter().find(|c| online.binary_search(c).is_err()) {
        return Err(Error::ThreadPool(format!(
            "core {bad} is not online (online cores: {})",
            format_cpu_list(&online)
        )));
    }
    if let Some(bad) = cores.iter().find(|&&c| c >= libc::CPU_SETSIZE as usize) {
        return Err(Error::ThreadPool(format!(
            "core {bad} is beyond the {} cores a thread can be pinned to",
            libc::CPU_SETSIZE
        )));
    }
    // A trial pin of this thread, given straight back.
    match CallerAffinity::try_join(cores) {
        Ok(trial) => {
            drop(trial);
            Ok(())
        }
        Err(e) => Err(pin_refused(cores[0], &e)),
    }
}

/// The online cores, sorted: `/sys/devices/system/cpu/online`, or
/// `0..available_parallelism` where that cannot be read.
fn online_cores() -> Vec<usize> {
    let listed = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|text| crate::platform::sysfs::parse_cpu_list(text.trim()))
        .filter(|cores| !cores.is_empty());
    let mut cores = listed.unwrap_or_else(|| {
        (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
    });
    cores.sort_unstable();
    cores.dedup();
    cores
}

fn format_cpu_list(cores: &[usize]) -> String {
    crate::platform::sysfs::format_cpu_list(cores)
}

/// The error for a pin the kernel refused, naming the cores this process
/// may run on (its affinity mask, which a cpuset can narrow below the online
/// cores).
fn pin_refused(core: usize, e: &std::io::Error) -> Error {
    let allowed = allowed_cores().map_or_else(
        || format!("online cores: {}", format_cpu_list(&online_cores())),
        |c| format!("this process may run on cores {}", format_cpu_list(&c)),
    );
    Error::ThreadPool(format!(
        "cannot pin a worker to core {core}: {e} ({allowed})"
    ))
}

#[cfg(target_os = "linux")]
fn allowed_cores() -> Option<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data, filled by the kernel.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        Some(
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect(),
        )
    }
}

#[cfg(not(target_os = "linux"))]
fn allowed_cores() -> Option<Vec<usize>> {
    None
}

#[cfg(target_os = "linux")]
fn pin_current_thread(core: usize) -> std::io::Result<()> {
    if core >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "core out of range",
        ));
    }
    // SAFETY: cpu_set_t is plain data and `core < CPU_SETSIZE`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_on_any_pool() {
        for (threads, cores) in [(1, None), (2, None), (3, None), (2, Some(vec![0]))] {
            let workers = Workers::new(threads, cores).unwrap();
            for tasks in [0, 1, 2, 7, 100] {
                let hits: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
                for _ in 0..50 {
                    workers.run(tasks, |t, worker| {
                        assert!(worker < threads);
                        hits[t].fetch_add(1, Relaxed);
                    });
                }
                assert!(
                    hits.iter().all(|h| h.load(Relaxed) == 50),
                    "{threads} threads, {tasks} tasks"
                );
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn affinity() -> Vec<usize> {
        // SAFETY: plain data, read by the kernel.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
                0
            );
            (0..64).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pinned_pool_runs_the_caller_on_its_cores_and_gives_them_back() {
        let before = affinity();
        let workers = Workers::new(1, Some(vec![0])).unwrap();
        let seen = Mutex::new(Vec::new());
        workers.run(1, |_, worker| {
            assert_eq!(worker, 0, "with one thread, the caller does the work");
            *seen.lock().unwrap() = affinity();
        });
        assert_eq!(
            *seen.lock().unwrap(),
            vec![0],
            "the caller ran on the pool's core"
        );
        assert_eq!(affinity(), before, "and got its own affinity back");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pin_the_kernel_refuses_is_an_error() {
        let offline = online_cores().last().copied().unwrap_or(0) + 1;
        if offline >= libc::CPU_SETSIZE as usize {
            return;
        }
        // Past `check_cores`, which would refuse the core first: the workers'
        // own pins, and the caller's, must still report the kernel's refusal.
        match Pool::start(1, Some(vec![0, offline])) {
            Err(Error::ThreadPool(msg)) => assert!(
                msg.contains(&format!("cannot pin a worker to core {offline}")),
                "{msg}"
            ),
            Err(other) => panic!("wrong error kind: {other}"),
            Ok(_) => panic!("a worker ran unpinned after the kernel refused core {offline}"),
        }
        assert!(CallerAffinity::try_join(&[offline]).is_err());
        let err = check_cores(&[offline]).unwrap_err().to_string();
        assert!(err.contains("online cores"), "{err}");
    }

    #[test]
    fn parked_workers_wake_up() {
        let workers = Workers::new(2, None).unwrap();
        std::thread::sleep(SPIN_BEFORE_PARK * 4);
        let count = AtomicUsize::new(0);
        workers.run(64, |_, _| {
            count.fetch_add(1, Relaxed);
        });
        assert_eq!(count.load(Relaxed), 64);
    }

    #[test]
    fn a_panicking_task_is_reported_not_hung() {
        let workers = Workers::new(2, None).unwrap();
        let result = catch_unwind(AssertUnwindSafe(|| workers.run(8, |t, _| assert!(t != 5))));
        assert!(result.is_err());
        // The pool still works afterwards.
        let count = AtomicUsize::new(0);
        workers.run(8, |_, _| {
            count.fetch_add(1, Relaxed);
        });
        assert_eq!(count.load(Relaxed), 8);
    }
}
