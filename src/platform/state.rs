//! The clock state file: what a [`ClockGuard`](super::ClockGuard) changed,
//! recorded before each change so that a crash can be undone later.
//!
//! `groupscale` runs as root on boards, so the file is treated as hostile
//! input, and it holds data, never a capability:
//! - An entry names a file by its system path (`/sys/...`) and the value it
//!   held. Restoring writes only under the invocation's own sysfs root, only
//!   to a file the crate itself writes (a cpufreq, devfreq, hotplug, Mali,
//!   EMC or power-sensor file), and only where the path, symlinks resolved,
//!   stays inside that root's `/sys`. Tools (nvpmodel, jetson_clocks) are
//!   never named by the file: the restoring invocation runs the ones it was
//!   configured with.
//! - The file is trusted only where no one else could have written it: a
//!   regular file (not a symlink) owned by the effective user, writable by
//!   no one else, in directories that only that user or root can change
//!   (or sticky ones).
//! - A lock file beside it is held for a guard's lifetime, so two processes
//!   never adopt and undo each other's live changes.
//! - It is written to a fresh temporary name, synced, renamed over the old
//!   one and the directory synced, so "recorded before the write" holds
//!   across a power cut.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::platform::error::{PlatformError, Result};
use crate::platform::sysfs::Sysfs;

/// One change and what it replaced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// A sysfs file, by its system path (`/sys/...`, not under any root),
    /// and the exact contents it had.
    File { path: PathBuf, previous: String },
    /// The nvpmodel mode to return to.
    Nvpmodel { previous: u32 },
    /// Clocks saved by `jetson_clocks --store` into the store beside the
    /// state file, put back with `--restore`. (A struct variant, so that
    /// unknown fields, such as the `binary` older versions wrote, are refused.)
    JetsonClocks {},
}

/// The files the crate writes, by name: the only ones a state file may ask
/// to restore. Anything else under `/sys` (`uevent_helper`, a driver's
/// `bind`) could hand root to whoever wrote the entry.
const RESTORABLE_FILES: &[&str] = &[
    "scaling_governor",
    "scaling_min_freq",
    "scaling_max_freq",
    "scaling_setspeed",
    "online",
    "min_freq",
    "max_freq",
    "dvfs_min_lock",
    "dvfs_max_lock",
    "emc_min_rate",
    "emc_max_rate",
    "enable",
];

/// A state file larger than this is not one groupscale wrote.
const MAX_STATE_FILE_BYTES: u64 = 1 << 20;

/// The current on-disk format. Version 1 (before 0.2) named tool binaries
/// and full paths; it is refused, with the way out in the message.
const VERSION: u32 = 2;

/// A state file's contents.
#[derive(Debug, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Record {
    version: u32,
    /// In the order they were made; undone last to first.
    pub(crate) changes: Vec<Change>,
}

impl Change {
    /// A file change, recorded by the system path of `path` (a path under
    /// `sysfs`'s root), checked as a restore would check it.
    pub(crate) fn file(sysfs: &Sysfs, path: &Path, previous: String) -> Result<Self> {
        let relative = path.strip_prefix(sysfs.root()).map_err(|_| {
            PlatformError::Invalid(format!(
                "{} is not under the sysfs root {}",
                path.display(),
                sysfs.root().display()
            ))
        })?;
        let change = Change::File {
            path: Path::new("/").join(relative),
            previous,
        };
        change.target(sysfs)?;
        Ok(change)
    }

    /// For a file change, the file it restores under `sysfs`, after the
    /// checks in the module documentation; `None` for a tool change.
    pub(crate) fn target(&self, sysfs: &Sysfs) -> Result<Option<PathBuf>> {
        let Change::File { path, .. } = self else {
            return Ok(None);
        };
        let refuse = |why: &str| {
            Err(PlatformError::RefusedEntry {
                path: path.clone(),
                why: why.into(),
            })
        };
        let mut components = path.components();
        if components.next() != Some(Component::RootDir)
            || !components.all(|c| matches!(c, Component::Normal(_)))
        {
            return refuse("not an absolute path without `.` or `..`");
        }
        if !path.starts_with("/sys") {
            return refuse("not under /sys");
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !RESTORABLE_FILES.contains(&name) {
            return refuse("not a clock, hotplug or sensor file that groupscale writes");
        }
        let sys = sysfs.path("/sys");
        let (Ok(sys), Ok(resolved)) = (
            std::fs::canonicalize(&sys),
            std::fs::canonicalize(sysfs.path(&path.to_string_lossy())),
        ) else {
            return refuse("missing under this sysfs root");
        };
        if !resolved.starts_with(&sys) {
            return refuse("its symlinks lead out of /sys");
        }
        Ok(Some(resolved))
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Change::File { path, previous } => {
                format!("{} (back to {previous:?})", path.display())
            }
            Change::Nvpmodel { previous } => format!("nvpmodel mode (back to {previous})"),
            Change::JetsonClocks {} => "jetson_clocks (back to the stored clocks)".into(),
        }
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `GROUPSCALE_STATE_FILE`, else `/run/groupscale/clocks.json` for root,
/// else `$XDG_STATE_HOME/groupscale/clocks.json` (by default
/// `~/.local/state/groupscale/clocks.json`).
pub fn default_state_file() -> PathBuf {
    if let Some(path) = crate::settings::STATE_FILE.value() {
        return PathBuf::from(path);
    }
    if euid() == 0 {
        return PathBuf::from("/run/groupscale/clocks.json");
    }
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("groupscale-{}", euid())));
    state_home.join("groupscale/clocks.json")
}

/// The file `jetson_clocks --store` writes beside the state file.
pub(crate) fn jetson_clocks_store(state_file: &Path) -> PathBuf {
    state_file.with_extension("jetson_clocks")
}

fn untrusted(path: &Path, why: impl Into<String>) -> PlatformError {
    PlatformError::UntrustedStateFile {
        path: path.into(),
        why: why.into(),
    }
}

/// Checks that only this user or root can change `dir` and every directory
/// above it (a sticky directory protects the entries its users own).
fn check_directories(state_file: &Path, dir: &Path) -> Result<()> {
    let me = euid();
    let dir = std::fs::canonicalize(dir).map_err(|source| PlatformError::StateFile {
        path: state_file.into(),
        source,
    })?;
    for ancestor in dir.ancestors() {
        let meta = std::fs::metadata(ancestor).map_err(|source| PlatformError::StateFile {
            path: state_file.into(),
            source,
        })?;
        if meta.uid() != me && meta.uid() != 0 {
            return Err(untrusted(
                state_file,
                format!("{} belongs to user {}", ancestor.display(), meta.uid()),
            ));
        }
        let others_write = meta.mode() & 0o022 != 0;
        let sticky = meta.mode() & 0o1000 != 0;
        if others_write && !sticky {
            return Err(untrusted(
                state_file,
                format!(
                    "{} is writable by other users (mode {:o})",
                    ancestor.display(),
                    meta.mode() & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

/// Checks an opened state or lock file: a regular file of this user that
/// no one else can write.
fn check_file(state_file: &Path, file: &File, what: &Path) -> Result<()> {
    let meta = file.metadata().map_err(|source| PlatformError::StateFile {
        path: state_file.into(),
        source,
    })?;
    if !meta.is_file() {
        return Err(untrusted(
            state_file,
            format!("{} is not a regular file", what.display()),
        ));
    }
    if meta.uid() != euid() {
        return Err(untrusted(
            state_file,
            format!(
                "{} belongs to user {}, not to you (user {})",
                what.display(),
                meta.uid(),
                euid()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(untrusted(
            state_file,
            format!(
                "{} is writable by other users (mode {:o})",
                what.display(),
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

fn open_no_follow(path: &Path, options: &mut OpenOptions) -> std::io::Result<File> {
    options
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates the state file's directory (mode 0700) where it is missing, and
/// checks that it can be trusted.
fn prepare_directory(state_file: &Path) -> Result<()> {
    let dir = parent(state_file);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| PlatformError::StateFile {
            path: state_file.into(),
            source,
        })?;
    check_directories(state_file, dir)
}

/// Reads and checks the state file; `None` when there is none.
pub(crate) fn read(state_file: &Path) -> Result<Option<Record>> {
    if std::fs::symlink_metadata(state_file).is_err() {
        return Ok(None);
    }
    check_directories(state_file, parent(state_file))?;
    let mut file = match open_no_follow(state_file, OpenOptions::new().read(true)) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(untrusted(state_file, "it is a symbolic link"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PlatformError::StateFile {
                path: state_file.into(),
                source,
            })
        }
    };
    check_file(state_file, &file, state_file)?;
    let mut text = String::new();
    let corrupt = |why: String| PlatformError::CorruptStateFile {
        path: state_file.into(),
        why,
    };
    (&mut file)
        .take(MAX_STATE_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| corrupt(e.to_string()))?;
    if text.len() as u64 > MAX_STATE_FILE_BYTES {
        return Err(corrupt(format!("larger than {MAX_STATE_FILE_BYTES} bytes")));
    }
    parse(&text).map(Some).map_err(corrupt)
}

/// Parses a state file's text (no checks of its entries' targets).
pub fn parse(text: &str) -> std::result::Result<Record, String> {
    let record: Record = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if record.version != VERSION {
        return Err(format!(
            "format version {} (this groupscale reads {VERSION})",
            record.version
        ));
    }
    Ok(record)
}

impl Record {
    pub(crate) fn new(changes: Vec<Change>) -> Self {
        Self {
            version: VERSION,
            changes,
        }
    }

    /// The changes, first made first.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }
}

/// Writes `changes` durably (a fresh temporary file, synced, renamed over
/// the old one, the directory synced), or removes the file when there are
/// none.
pub(crate) fn write(state_file: &Path, changes: &[Change]) -> Result<()> {
    let io = |source| PlatformError::StateFile {
        path: state_file.into(),
        source,
    };
    let dir = parent(state_file);
    if changes.is_empty() {
        match std::fs::remove_file(state_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        return sync_directory(dir).map_err(io);
    }
    prepare_directory(state_file)?;
    let json = serde_json::to_string_pretty(&Record::new(changes.to_vec()))
        .expect("a state record serialises");
    let tmp = unique_temporary(state_file);
    let result = (|| {
        let mut file = open_no_follow(
            &tmp,
            OpenOptions::new().write(true).create_new(true).mode(0o600),
        )?;
        file.write_all(json.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, state_file)?;
        sync_directory(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

fn unique_temporary(state_file: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = state_file
        .file_name()
        .map_or("clocks".into(), |n| n.to_string_lossy());
    parent(state_file).join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

fn sync_directory(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The lock beside a state file, held while a guard may change clocks.
#[derive(Debug)]
pub(crate) struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock on `state_file`: fails at once if another process
    /// (or another guard of this one) holds it, or waits when `wait`.
    pub(crate) fn acquire(state_file: &Path, wait: bool) -> Result<Self> {
        prepare_directory(state_file)?;
        let lock_path = state_file.with_extension("lock");
        let file = open_no_follow(
            &lock_path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600),
        )
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                untrusted(
                    state_file,
                    format!("{} is a symbolic link", lock_path.display()),
                )
            } else {
                PlatformError::StateFile {
                    path: state_file.into(),
                    source: e,
                }
            }
        })?;
        check_file(state_file, &file, &lock_path)?;
        if wait {
            file.lock().map_err(|source| PlatformError::StateFile {
                path: state_file.into(),
                source,
            })?;
        } else if let Err(e) = file.try_lock() {
            return Err(match e {
                std::fs::TryLockError::WouldBlock => PlatformError::Busy {
                    lock: lock_path.clone(),
                },
                std::fs::TryLockError::Error(source) => PlatformError::StateFile {
                    path: state_file.into(),
                    source,
                },
            });
        }
        Ok(Self { _file: file })
    }
}

/// Removes a state file without acting on it, returning the text it held
/// (for `clocks restore --discard`). Works on any file at that path, a
/// refused or corrupt one included: removing a name never follows it.
pub fn discard(state_file: &Path) -> Result<Option<String>> {
    let io = |source| PlatformError::StateFile {
        path: state_file.into(),
        source,
    };
    let meta = match std::fs::symlink_metadata(state_file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let text = if meta.is_file() {
        let mut text = Vec::new();
        open_no_follow(state_file, OpenOptions::new().read(true))
            .and_then(|f| f.take(MAX_STATE_FILE_BYTES).read_to_end(&mut text))
            .map_err(io)?;
        String::from_utf8_lossy(&text).into_owned()
    } else {
        format!("(not a regular file: {:?})", meta.file_type())
    };
    std::fs::remove_file(state_file).map_err(io)?;
    sync_directory(parent(state_file)).map_err(io)?;
    Ok(Some(text))
}
