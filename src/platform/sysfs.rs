//! Reading and writing sysfs-style files under a configurable root, so that
//! every platform interface works the same on a board and on a fake tree.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::platform::error::{PlatformError, Result};

#[derive(Clone, Debug)]
pub struct Sysfs {
    root: PathBuf,
}

impl Sysfs {
    /// The real system (`/`).
    pub fn system() -> Self {
        Self::new("/")
    }

    /// A tree rooted elsewhere: `/sys/...` is read from `root/sys/...`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where an absolute system path lives under this root.
    pub fn path(&self, system_path: &str) -> PathBuf {
        self.root.join(system_path.trim_start_matches('/'))
    }

    /// The file's contents without the trailing newline.
    pub fn read(&self, path: &Path) -> Result<String> {
        match std::fs::read_to_string(path) {
            Ok(s) => Ok(s.trim_end_matches(['\n', '\0']).to_string()),
            Err(e) => Err(io_error(path, e, "")),
        }
    }

    /// The file's exact contents, for restoring it byte for byte.
    pub fn read_raw(&self, path: &Path) -> Result<String> {
        std::fs::read_to_string(path).map_err(|e| io_error(path, e, ""))
    }

    pub fn read_u64(&self, path: &Path) -> Result<u64> {
        let text = self.read(path)?;
        text.trim().parse().map_err(|_| PlatformError::Parse {
            path: path.into(),
            why: format!("{text:?} is not a whole number"),
        })
    }

    /// Whitespace-separated numbers, as in `scaling_available_frequencies`.
    pub fn read_list(&self, path: &Path) -> Result<Vec<u64>> {
        let text = self.read(path)?;
        text.split_whitespace()
            .map(|w| {
                w.parse().map_err(|_| PlatformError::Parse {
                    path: path.into(),
                    why: format!("{w:?} is not a whole number"),
                })
            })
            .collect()
    }

    /// Writes `value` as the kernel expects (one write, no newline needed).
    /// Used by [`ClockGuard`](crate::platform::ClockGuard), which records the
    /// previous value first; call it directly only for files that need no
    /// restoring.
    pub fn write(&self, path: &Path, value: &str) -> Result<()> {
        // As the shell's `echo value > file`: never create a file (a missing
        // one means the interface is absent), and truncate, which sysfs
        // ignores and which makes plain files (fake trees) hold just `value`.
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|e| io_error(path, e, value))?;
        file.write_all(value.as_bytes())
            .map_err(|e| io_error(path, e, value))
    }
}

fn io_error(path: &Path, e: std::io::Error, value: &str) -> PlatformError {
    match e.kind() {
        ErrorKind::PermissionDenied => PlatformError::PermissionDenied { path: path.into() },
        ErrorKind::NotFound => PlatformError::NotSupported {
            what: path.file_name().map_or("this interface".into(), |n| {
                n.to_string_lossy().into_owned()
            }),
            path: path.into(),
        },
        ErrorKind::InvalidInput => PlatformError::Rejected {
            path: path.into(),
            value: value.into(),
        },
        _ if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::EBUSY) => {
            PlatformError::Rejected {
                path: path.into(),
                value: value.into(),
            }
        }
        _ => PlatformError::Io {
            path: path.into(),
            source: e,
        },
    }
}

/// Parses a Linux CPU list (`0-3,6`), as in `related_cpus` and `online`,
/// capped at [`crate::settings::MAX_CPUS`] entries.
pub fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    crate::settings::cpu_list_entries(text).ok()
}

/// Formats CPUs as a Linux CPU list (`0-3,6`).
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(if sorted[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", sorted[i])
        });
        i += 1;
    }
    parts.join(",")
}
