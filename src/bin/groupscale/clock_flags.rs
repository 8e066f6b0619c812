//! The clock flags `profile` and `run` share: where the sysfs tree is,
//! where changes are recorded, and which nvpmodel undoes them.

use std::path::PathBuf;

use groupscale::platform::{GuardOptions, Sysfs};

#[derive(clap::Args)]
pub struct ClockFlags {
    /// Root of the sysfs tree (a fake board for tests).
    #[arg(long, default_value = "/")]
    pub sysfs_root: PathBuf,
    /// Where clock changes are recorded before they are made.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// The nvpmodel binary (default: GROUPSCALE_NVPMODEL or /usr/sbin/nvpmodel).
    #[arg(long)]
    pub nvpmodel_bin: Option<PathBuf>,
}

impl ClockFlags {
    pub fn sysfs(&self) -> Sysfs {
        Sysfs::new(&self.sysfs_root)
    }

    pub fn guard(&self) -> GuardOptions {
        GuardOptions::standard(self.state_file.as_deref(), self.nvpmodel_bin.as_deref())
    }
}
