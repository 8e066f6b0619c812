//! Every clock change goes through a [`ClockGuard`]: it records the value it
//! replaces, persists the record before the write (so a crash can be undone
//! by `groupscale clocks restore`), and puts everything back in reverse order
//! when it is dropped, on panic unwinding, and on SIGINT/SIGTERM.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde::{Deserialize, Serialize};

use crate::platform::error::{PlatformError, Result};
use crate::platform::sysfs::Sysfs;

/// One change and how to undo it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A sysfs-style file and the contents it had.
    File { path: PathBuf, previous: String },
    /// An nvpmodel mode to return to with `binary [-f config] -m previous`.
    Nvpmodel {
        binary: PathBuf,
        config: Option<PathBuf>,
        previous: u32,
    },
    /// Clocks saved by `jetson_clocks --store store`, put back with `--restore`.
    JetsonClocks { binary: PathBuf, store: PathBuf },
}

impl Change {
    fn undo(&self, sysfs: &Sysfs) -> Result<()> {
        match self {
            Change::File { path, previous } => sysfs.write(path, previous),
            Change::Nvpmodel {
                binary,
                config,
                previous,
            } => {
                let mut cmd = Command::new(binary);
                if let Some(config) = config {
                    cmd.arg("-f").arg(config);
                }
                run_tool(cmd.arg("-m").arg(previous.to_string()))
            }
            Change::JetsonClocks { binary, store } => {
                run_tool(Command::new(binary).arg("--restore").arg(store))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Change::File { path, previous } => format!("{} (back to {previous:?})", path.display()),
            Change::Nvpmodel { previous, .. } => format!("nvpmodel mode (back to {previous})"),
            Change::JetsonClocks { store, .. } => {
                format!("jetson_clocks (from {})", store.display())
            }
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

#[derive(Serialize, Deserialize, Default)]
struct StateFile {
    /// In the order they were made; undone last to first.
    changes: Vec<Change>,
}

struct Journal {
    sysfs: Sysfs,
    changes: Vec<Change>,
    state_file: Option<PathBuf>,
}

impl Journal {
    fn persist(&self) -> Result<()> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        if self.changes.is_empty() {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(PlatformError::StateFile {
                        path: path.clone(),
                        source: e,
                    })
                }
                _ => Ok(()),
            };
        }
        let state = StateFile {
            changes: self.changes.clone(),
        };
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_string_pretty(&state).expect("serialisable");
        let io = |source| PlatformError::StateFile {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Undoes changes from the last back to index `down_to`.
    fn undo_to(&mut self, down_to: usize) -> Result<()> {
        if self.changes.len() <= down_to {
            return Ok(());
        }
        let mut failures = Vec::new();
        while self.changes.len() > down_to {
            let change = self.changes.pop().expect("non-empty");
            if let Err(e) = change.undo(&self.sysfs) {
                failures.push(format!("{}: {e}", change.describe()));
            }
        }
        // What could not be undone is lost to this journal either way; the
        // error says what, and the state file no longer claims it.
        let persisted = self.persist();
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
}

impl Default for GuardOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            state_file: Some(default_state_file()),
        }
    }
}

/// `GROUPSCALE_STATE_FILE`, else `/var/tmp/groupscale-clocks.json`.
pub fn default_state_file() -> PathBuf {
    crate::settings::var("GROUPSCALE_STATE_FILE").map_or_else(
        || PathBuf::from("/var/tmp/groupscale-clocks.json"),
        PathBuf::from,
    )
}

pub struct ClockGuard {
    journal: Arc<Mutex<Journal>>,
    dry_run: bool,
    planned: Vec<String>,
    kept: bool,
}

impl ClockGuard {
    /// A guard writing under `sysfs`. A state file left by a run that did not
    /// restore is adopted: its changes are undone too, first-made last, so a
    /// restore returns to the values from before that run.
    pub fn new(sysfs: Sysfs, options: GuardOptions) -> Result<Self> {
        let mut changes = Vec::new();
        if let (Some(path), false) = (&options.state_file, options.dry_run) {
            if path.exists() {
                changes = read_state_file(path)?.changes;
            }
        }
        let journal = Arc::new(Mutex::new(Journal {
            sysfs,
            changes,
            state_file: options.state_file,
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
        // The exact bytes, trailing newline included: sysfs parsers accept
        // it, and a plain file gets back exactly what it held.
        let previous = journal.sysfs.read_raw(path)?;
        journal.changes.push(Change::File {
            path: path.into(),
            previous,
        });
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
        self.journal().sysfs.write(path, value)
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

fn read_state_file(path: &Path) -> Result<StateFile> {
    let text = std::fs::read_to_string(path).map_err(|source| PlatformError::Io {
        path: path.into(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| PlatformError::Parse {
        path: path.into(),
        why: e.to_string(),
    })
}

/// Undoes the changes recorded in a state file (after a crash), last first,
/// and removes it. Returns how many were undone; 0 when there is no file.
pub fn restore_state_file(sysfs: &Sysfs, path: &Path) -> Result<usize> {
    if !path.exists() {
        return Ok(0);
    }
    let changes = read_state_file(path)?.changes;
    let count = changes.len();
    let mut journal = Journal {
        sysfs: sysfs.clone(),
        changes,
        state_file: Some(path.into()),
    };
    journal.undo_to(0)?;
    Ok(count)
}

/// SIGINT and SIGTERM restore every live guard, then end the process with
/// the signal's conventional status.
mod signals {
    use super::*;

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
        }
        HANDLER.get_or_init(|| {
            use signal_hook::consts::{SIGINT, SIGTERM};
            let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
                eprintln!("groupscale: cannot watch SIGINT/SIGTERM; clocks are restored on exit and by `clocks restore`");
                return;
            };
            std::thread::spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    let journals = live().lock().unwrap_or_else(|e| e.into_inner());
                    for journal in journals.iter().filter_map(Weak::upgrade) {
                        let mut journal = journal.lock().unwrap_or_else(|e| e.into_inner());
                        if let Err(e) = journal.undo_to(0) {
                            eprintln!("groupscale: {e}");
                        }
                    }
                    std::process::exit(128 + signal);
                }
            });
        });
    }
}
