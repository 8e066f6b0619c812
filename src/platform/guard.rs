//! Every clock change goes through a [`ClockGuard`]: it records the value it
//! replaces, persists the record before the write (so a crash can be undone
//! by `groupscale clocks restore`), and puts everything back in reverse order
//! when it is dropped, on panic unwinding, and on SIGINT/SIGTERM.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::platform::error::{PlatformError, Result};
use crate::platform::nvpmodel::Nvpmodel;
use crate::platform::state::{self, StateLock};
use crate::platform::sysfs::Sysfs;

pub use crate::platform::state::{default_state_file, Change};

/// The platform tools this invocation may run, as configured by flags, the
/// environment or their standard paths, never by a state file.
#[derive(Clone, Debug, Default)]
pub struct Tools {
    pub nvpmodel: Option<Nvpmodel>,
    pub jetson_clocks: Option<PathBuf>,
}

impl Tools {
    /// nvpmodel as [`Nvpmodel::find`] finds it; jetson_clocks at
    /// `jetson_clocks`, else `GROUPSCALE_JETSON_CLOCKS`, else
    /// `/usr/bin/jetson_clocks` where it exists.
    pub fn find(nvpmodel: Option<&Path>, jetson_clocks: Option<&Path>) -> Self {
        let jetson_clocks = jetson_clocks
            .map(Path::to_path_buf)
            .or_else(|| crate::settings::JETSON_CLOCKS.value().map(PathBuf::from))
            .or_else(|| {
                let standard = PathBuf::from("/usr/bin/jetson_clocks");
                standard.exists().then_some(standard)
            });
        Self {
            nvpmodel: Nvpmodel::find(nvpmodel),
            jetson_clocks,
        }
    }
}

fn undo(change: &Change, sysfs: &Sysfs, tools: &Tools, state_file: Option<&Path>) -> Result<()> {
    let missing = missing_tool;
    match change {
        Change::File { previous, .. } => {
            let target = change.target(sysfs)?.expect("a file change has a target");
            sysfs.write(&target, previous)
        }
        Change::Nvpmodel { previous } => {
            let nvp = tools.nvpmodel.as_ref().ok_or_else(|| {
                missing(
                    "nvpmodel",
                    "--nvpmodel-bin, GROUPSCALE_NVPMODEL or /usr/sbin/nvpmodel",
                )
            })?;
            run_tool(nvp.command().arg("-m").arg(previous.to_string()))
        }
        Change::JetsonClocks {} => {
            let binary = tools.jetson_clocks.as_ref().ok_or_else(|| {
                missing(
                    "jetson_clocks",
                    "--jetson-clocks-bin, GROUPSCALE_JETSON_CLOCKS or /usr/bin/jetson_clocks",
                )
            })?;
            let store = state_file
                .map(state::jetson_clocks_store)
                .ok_or_else(|| PlatformError::Invalid("jetson_clocks needs a state file".into()))?;
            run_tool(Command::new(binary).arg("--restore").arg(store))
        }
    }
}

/// Runs a platform tool, turning a failure into an error that names it.
pub(crate) fn run_tool(cmd: &mut Command) -> Result<()> {
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|e| PlatformError::Tool {
        tool: tool.clone(),
        why: e.to_string(),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(PlatformError::Tool {
            tool,
            why: format!("exited with {}: {}", out.status, stderr.trim()),
        });
    }
    Ok(())
}

struct Journal {
    sysfs: Sysfs,
    tools: Tools,
    changes: Vec<Change>,
    state_file: Option<PathBuf>,
    /// Held while the journal lives: no other guard adopts these changes.
    _lock: Option<StateLock>,
    /// Set once a signal has restored everything: the process is exiting,
    /// and no new change may be made behind the restore.
    closed: bool,
}

impl Journal {
    fn persist(&self) -> Result<()> {
        match &self.state_file {
            Some(path) => state::write(path, &self.changes),
            None => Ok(()),
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.closed {
            return Err(PlatformError::Invalid(
                "clocks were restored on a signal; no further change is made".into(),
            ));
        }
        Ok(())
    }

    /// Undoes changes from the last back to index `down_to`.
    fn undo_to(&mut self, down_to: usize) -> Result<()> {
        if self.changes.len() <= down_to {
            return Ok(());
        }
        let mut failures = Vec::new();
        let mut persisted = Ok(());
        while self.changes.len() > down_to {
            let change = self.changes.pop().expect("non-empty");
            if let Err(e) = undo(
                &change,
                &self.sysfs,
                &self.tools,
                self.state_file.as_deref(),
            ) {
                failures.push(format!("{}: {e}", change.describe()));
            }
            // After each one, so that an exit midway leaves exactly what is
            // left to undo. What could not be undone is lost to this
            // journal either way: the error says what.
            persisted = persisted.and(self.persist());
        }
        if !failures.is_empty() {
            return Err(PlatformError::Restore(failures));
        }
        persisted
    }
}

#[derive(Clone, Debug)]
pub struct GuardOptions {
    /// Print the writes instead of making them.
    pub dry_run: bool,
    /// Where changes are recorded before they are made (`None`: nowhere).
    pub state_file: Option<PathBuf>,
    /// The tools that undo tool changes (a state file never names them).
    pub tools: Tools,
    /// Wait for another process's guard to finish instead of failing.
    pub wait_for_lock: bool,
}

impl GuardOptions {
    /// What a command that changes clocks uses: changes recorded in
    /// `state_file` (else [`default_state_file`]), undone with the nvpmodel
    /// at `nvpmodel_bin` (else `GROUPSCALE_NVPMODEL` or the standard path),
    /// failing fast if another process holds the lock.
    pub fn standard(state_file: Option<&Path>, nvpmodel_bin: Option<&Path>) -> Self {
        Self {
            dry_run: false,
            state_file: Some(state_file.map_or_else(default_state_file, Path::to_path_buf)),
            tools: Tools::find(nvpmodel_bin, None),
            wait_for_lock: false,
        }
    }

    /// No state file, no tools, no waiting: for tests and dry runs, and a
    /// base to set fields on.
    pub fn none() -> Self {
        Self {
            dry_run: false,
            state_file: None,
            tools: Tools::default(),
            wait_for_lock: false,
        }
    }
}

impl Default for GuardOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            state_file: Some(default_state_file()),
            tools: Tools::find(None, None),
            wait_for_lock: false,
        }
    }
}

pub struct ClockGuard {
    journal: Arc<Mutex<Journal>>,
    dry_run: bool,
    planned: Vec<String>,
    kept: bool,
}

/// Reads a state file under its lock and checks every entry, and that a
/// tool is configured for every tool change, so that nothing is written
/// (and nothing dropped from the file) when any entry cannot be undone.
fn adopt(sysfs: &Sysfs, path: &Path, tools: &Tools) -> Result<Vec<Change>> {
    let Some(record) = state::read(path)? else {
        return Ok(Vec::new());
    };
    for change in &record.changes {
        change.target(sysfs)?;
        let unconfigured = match change {
            Change::Nvpmodel { .. } if tools.nvpmodel.is_none() => Some((
                "nvpmodel",
                "--nvpmodel-bin, GROUPSCALE_NVPMODEL or /usr/sbin/nvpmodel",
            )),
            Change::JetsonClocks {} if tools.jetson_clocks.is_none() => Some((
                "jetson_clocks",
                "--jetson-clocks-bin, GROUPSCALE_JETSON_CLOCKS or /usr/bin/jetson_clocks",
            )),
            _ => None,
        };
        if let Some((tool, how)) = unconfigured {
            return Err(missing_tool(tool, how));
        }
    }
    Ok(record.changes)
}

fn missing_tool(tool: &str, how: &str) -> PlatformError {
    PlatformError::Tool {
        tool: tool.into(),
        why: format!("needed to undo a recorded change, but none is configured ({how})"),
    }
}

impl ClockGuard {
    /// A guard writing under `sysfs`. It holds the state file's lock for its
    /// lifetime. A state file left by a run that did not restore is
    /// adopted: its changes are undone too, first-made last, so a restore
    /// returns to the values from before that run.
    pub fn new(sysfs: Sysfs, options: GuardOptions) -> Result<Self> {
        let mut changes = Vec::new();
        let mut lock = None;
        if let (Some(path), false) = (&options.state_file, options.dry_run) {
            lock = Some(StateLock::acquire(path, options.wait_for_lock)?);
            changes = adopt(&sysfs, path, &options.tools)?;
        }
        let journal = Arc::new(Mutex::new(Journal {
            sysfs,
            tools: options.tools,
            changes,
            state_file: options.state_file,
            _lock: lock,
            closed: false,
        }));
        if !options.dry_run {
            signals::watch(&journal);
        }
        Ok(Self {
            journal,
            dry_run: options.dry_run,
            planned: Vec::new(),
            kept: false,
        })
    }

    /// The tools this guard undoes tool changes with.
    pub fn tools(&self) -> Tools {
        self.journal().tools.clone()
    }

    /// Makes `nvp` the nvpmodel that undoes this guard's mode changes, unless
    /// the guard was configured with another one.
    pub(crate) fn use_nvpmodel(&mut self, nvp: &Nvpmodel) -> Result<()> {
        let mut journal = self.journal();
        match &journal.tools.nvpmodel {
            Some(configured) if configured != nvp => Err(PlatformError::Invalid(format!(
                "nvpmodel {} differs from the {} this guard restores with",
                nvp.binary.display(),
                configured.binary.display()
            ))),
            _ => {
                journal.tools.nvpmodel = Some(nvp.clone());
                Ok(())
            }
        }
    }

    /// As [`use_nvpmodel`](Self::use_nvpmodel), for jetson_clocks.
    pub(crate) fn use_jetson_clocks(&mut self, binary: &Path) -> Result<()> {
        let mut journal = self.journal();
        match &journal.tools.jetson_clocks {
            Some(configured) if configured != binary => Err(PlatformError::Invalid(format!(
                "jetson_clocks {} differs from the {} this guard restores with",
                binary.display(),
                configured.display()
            ))),
            _ => {
                journal.tools.jetson_clocks = Some(binary.into());
                Ok(())
            }
        }
    }

    /// The file `jetson_clocks --store` keeps the clocks in, beside the
    /// state file.
    pub fn jetson_clocks_store(&self) -> Option<PathBuf> {
        self.journal()
            .state_file
            .as_deref()
            .map(state::jetson_clocks_store)
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// The writes a dry run would have made, in order.
    pub fn planned(&self) -> &[String] {
        &self.planned
    }

    /// Changes made and not yet restored.
    pub fn changes(&self) -> Vec<Change> {
        self.journal().changes.clone()
    }

    /// Writes `value` to `path`, recording (and persisting) the old contents
    /// first. A rejected write leaves no record behind.
    pub fn write(&mut self, path: &Path, value: &str) -> Result<()> {
        if self.dry_run {
            self.planned
                .push(format!("write {value:?} to {}", path.display()));
            return Ok(());
        }
        let mut journal = self.journal();
        journal.check_open()?;
        // The exact bytes, trailing newline included: sysfs parsers accept
        // it, and a plain file gets back exactly what it held.
        let previous = journal.sysfs.read_raw(path)?;
        // Recorded as a restore will read it, and refused now if a restore
        // would refuse it.
        let change = Change::file(&journal.sysfs, path, previous)?;
        journal.changes.push(change);
        // Nothing is written until the record is safe on disk; without it,
        // there is nothing to undo either.
        if let Err(e) = journal.persist() {
            journal.changes.pop();
            return Err(e);
        }
        if let Err(e) = journal.sysfs.write(path, value) {
            journal.changes.pop();
            journal.persist()?;
            return Err(e);
        }
        Ok(())
    }

    /// Writes a value that needs no restoring of its own because an earlier
    /// recorded change owns it (`scaling_setspeed` belongs to the
    /// `userspace` governor: restoring the governor discards it).
    pub fn write_unrecorded(&mut self, path: &Path, value: &str) -> Result<()> {
        if self.dry_run {
            self.planned
                .push(format!("write {value:?} to {}", path.display()));
            return Ok(());
        }
        let journal = self.journal();
        journal.check_open()?;
        journal.sysfs.write(path, value)
    }

    /// Records `change` (persisting it) and then runs `apply`; if `apply`
    /// fails, the record is dropped, as nothing changed.
    pub fn apply_tool_change(
        &mut self,
        change: Change,
        describe: &str,
        apply: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        if self.dry_run {
            self.planned.push(describe.to_string());
            return Ok(());
        }
        let mut journal = self.journal();
        journal.check_open()?;
        journal.changes.push(change);
        if let Err(e) = journal.persist() {
            journal.changes.pop();
            return Err(e);
        }
        if let Err(e) = apply() {
            journal.changes.pop();
            journal.persist()?;
            return Err(e);
        }
        Ok(())
    }

    /// Runs a multi-step change all or nothing: if `steps` fails, what it
    /// already changed is undone before the error is returned.
    pub fn atomically<T>(&mut self, steps: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let mark = self.journal().changes.len();
        let planned_mark = self.planned.len();
        match steps(self) {
            Ok(value) => Ok(value),
            Err(e) => {
                self.planned.truncate(planned_mark);
                match self.journal().undo_to(mark) {
                    Ok(()) => Err(e),
                    Err(rollback) => {
                        Err(PlatformError::Invalid(format!("{e}; and then {rollback}")))
                    }
                }
            }
        }
    }

    /// Puts every change back, last first, and removes the state file.
    pub fn restore(&mut self) -> Result<()> {
        self.journal().undo_to(0)
    }

    /// Leaves the changes in place when the guard goes away (for `clocks
    /// set`); the state file keeps them, so `clocks restore` can undo them.
    pub fn keep(mut self) {
        self.kept = true;
        self.journal().changes.clear();
    }
}

impl Drop for ClockGuard {
    fn drop(&mut self) {
        if self.kept || self.dry_run {
            return;
        }
        if let Err(e) = self.restore() {
            // Drop cannot return the error; losing it silently would leave a
            // board at the wrong clocks with no word said.
            eprintln!("groupscale: {e}");
        }
    }
}

/// Undoes the changes recorded in a state file (after a crash), last first,
/// and removes it, under the file's lock. Every entry is checked before
/// anything is written. Returns how many were undone; 0 when there is no
/// file.
pub fn restore_state_file(sysfs: &Sysfs, path: &Path, tools: &Tools) -> Result<usize> {
    let lock = StateLock::acquire(path, false)?;
    let changes = adopt(sysfs, path, tools)?;
    let count = changes.len();
    let mut journal = Journal {
        sysfs: sysfs.clone(),
        tools: tools.clone(),
        changes,
        state_file: Some(path.into()),
        _lock: Some(lock),
        closed: false,
    };
    journal.undo_to(0)?;
    Ok(count)
}

/// SIGINT and SIGTERM restore every live guard, then end the process with
/// the first signal's conventional status. While the restore runs, a second
/// signal is answered (a word on stderr), and a third ends the process at
/// once, leaving what is not yet undone in the state file.
mod signals {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

    fn live() -> &'static Mutex<Vec<Weak<Mutex<Journal>>>> {
        static LIVE: OnceLock<Mutex<Vec<Weak<Mutex<Journal>>>>> = OnceLock::new();
        LIVE.get_or_init(Default::default)
    }

    pub(super) fn watch(journal: &Arc<Mutex<Journal>>) {
        static HANDLER: OnceLock<()> = OnceLock::new();
        {
            let mut journals = live().lock().unwrap_or_else(|e| e.into_inner());
            journals.retain(|j| j.strong_count() > 0);
            journals.push(Arc::downgrade(journal));
            // A guard made while a signal's restore runs must not change
            // anything behind it.
            if SHUTTING_DOWN.load(Ordering::SeqCst) {
                journal.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
            }
        }
        HANDLER.get_or_init(|| {
            use signal_hook::consts::{SIGINT, SIGTERM};
            let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
                eprintln!("groupscale: cannot watch SIGINT/SIGTERM; clocks are restored on exit and by `clocks restore`");
                return;
            };
            std::thread::spawn(move || {
                let mut received = signals.forever();
                let Some(first) = received.next() else {
                    return;
                };
                std::thread::spawn(move || {
                    restore_all();
                    std::process::exit(128 + first);
                });
                // Keep reading: signals during the restore are answered,
                // not swallowed.
                for (count, signal) in received.enumerate() {
                    if count == 0 {
                        eprintln!(
                            "groupscale: restoring clocks; signal again to exit at once \
                             (`groupscale clocks restore` then finishes the job)"
                        );
                    } else {
                        std::process::exit(128 + signal);
                    }
                }
            });
        });
    }

    /// What a signal does before the process exits: restores every live
    /// guard and closes it, so that no thread can make a change after the
    /// restore. Public for tests only.
    pub fn restore_all() {
        SHUTTING_DOWN.store(true, Ordering::SeqCst);
        let journals = live().lock().unwrap_or_else(|e| e.into_inner());
        for journal in journals.iter().filter_map(Weak::upgrade) {
            let mut journal = journal.lock().unwrap_or_else(|e| e.into_inner());
            journal.closed = true;
            if let Err(e) = journal.undo_to(0) {
                eprintln!("groupscale: {e}");
            }
        }
    }
}

#[doc(hidden)]
pub use signals::restore_all as restore_all_on_signal;
