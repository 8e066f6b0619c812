//! Mesa's Vulkan drivers print `error: XDG_RUNTIME_DIR is invalid or not set
//! in the environment.` when they start without that variable, as in most
//! containers: an alarming line on a harmless run. Before any thread starts,
//! the binary points the variable at a private directory of its own.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

/// Sets `XDG_RUNTIME_DIR` to `$TMPDIR/groupscale-xdg-UID` (mode 0700) when
/// it is unset or names no directory. Leaves it alone when that directory
/// cannot be made ours: a symlink, or one another user owns or can write,
/// is never used.
pub fn ensure() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).is_dir()) {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let dir = std::env::temp_dir().join(format!("groupscale-xdg-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let Ok(meta) = std::fs::symlink_metadata(&dir) else {
        return;
    };
    let ours = meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0;
    if ours {
        // Called first thing in main, before any thread exists.
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}
