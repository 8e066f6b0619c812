use std::path::PathBuf;

/// What went wrong talking to the platform's clocks and sensors.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error(
        "permission denied writing {path}: run as root (sudo), or give your user write access \
         to it with a udev rule or group (e.g. a rule that chgrps the cpufreq/devfreq files to a group you are in)"
    )]
    PermissionDenied { path: PathBuf },

    #[error("{what} is not supported on this platform ({path} is missing)")]
    NotSupported { what: String, path: PathBuf },

    #[error("the kernel rejected {value:?} for {path}")]
    Rejected { path: PathBuf, value: String },

    #[error("{value} {unit} is not an available frequency of {domain}; available: {available}")]
    UnsupportedFrequency {
        domain: String,
        value: u64,
        unit: &'static str,
        available: String,
    },

    #[error("governor {wanted:?} is not available for {domain}; available: {available}")]
    UnsupportedGovernor {
        domain: String,
        wanted: String,
        available: String,
    },

    #[error("cannot parse {path}: {why}")]
    Parse { path: PathBuf, why: String },

    #[error(
        "cannot record clock changes in {path} ({source}); nothing was changed. \
         Choose a writable file with --state-file or GROUPSCALE_STATE_FILE"
    )]
    StateFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "refusing the clock state file {path}: {why}. Only a file that you own and no one else \
         can change is trusted. Inspect it (cat {path}), then drop it with \
         `groupscale clocks restore --discard --state-file {path}`, or use another file \
         (--state-file or GROUPSCALE_STATE_FILE)"
    )]
    UntrustedStateFile { path: PathBuf, why: String },

    #[error(
        "cannot use the clock state file {path}: {why}. Inspect it (cat {path}) and put back by \
         hand what it lists; `groupscale clocks restore --discard --state-file {path}` drops it"
    )]
    CorruptStateFile { path: PathBuf, why: String },

    #[error("refusing to write {path}: {why}; nothing was written")]
    RefusedEntry { path: PathBuf, why: String },

    #[error(
        "another groupscale process is changing clocks (it holds {lock}); wait for it to \
         finish, or pass --wait-lock to wait for it"
    )]
    Busy { lock: PathBuf },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{tool}: {why}")]
    Tool { tool: String, why: String },

    #[error("{0}")]
    Invalid(String),

    /// A restore that could not put everything back; each line names a file.
    #[error("could not restore: {}", .0.join("; "))]
    Restore(Vec<String>),
}

pub type Result<T, E = PlatformError> = std::result::Result<T, E>;
