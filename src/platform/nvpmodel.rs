//! Jetson power modes (nvpmodel) and jetson_clocks, through their binaries,
//! whose paths are configurable (`GROUPSCALE_NVPMODEL`, `GROUPSCALE_JETSON_CLOCKS`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::platform::error::{PlatformError, Result};
use crate::platform::guard::{run_tool, Change, ClockGuard};
use crate::platform::sysfs::Sysfs;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NvpMode {
    pub id: u32,
    pub name: String,
    /// (parameter, argument, value) lines; a value of -1 means no limit.
    pub settings: Vec<(String, String, String)>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NvpConfig {
    pub modes: Vec<NvpMode>,
    pub default: Option<u32>,
}

/// Parses `/etc/nvpmodel.conf`: `< POWER_MODEL ID=n NAME=x >` blocks of
/// `PARAM ARG VALUE` lines, and `< PM_CONFIG DEFAULT=n >`. Parameter
/// declarations (`< PARAM ... >` and their `ARG path` lines) are skipped.
/// Custom modes parse like stock ones.
pub fn parse_conf(text: &str) -> std::result::Result<NvpConfig, String> {
    let mut modes: Vec<NvpMode> = Vec::new();
    let mut default = None;
    let mut in_mode = false;
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('<').and_then(|l| l.strip_suffix('>')) {
            let mut words = header.split_whitespace();
            let kind = words.next().unwrap_or_default();
            let fields: Vec<(&str, &str)> = words.filter_map(|w| w.split_once('=')).collect();
            let field = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
            in_mode = kind == "POWER_MODEL";
            match kind {
                "POWER_MODEL" => {
                    let id = field("ID")
                        .and_then(|v| v.parse().ok())
                        .ok_or(format!("line {number}: POWER_MODEL without a numeric ID"))?;
                    modes.push(NvpMode {
                        id,
                        name: field("NAME").unwrap_or("").to_string(),
                        settings: Vec::new(),
                    });
                }
                "PM_CONFIG" => default = field("DEFAULT").and_then(|v| v.parse().ok()),
                _ => {}
            }
            continue;
        }
        if in_mode {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [param, arg, value] = words.as_slice() {
                let mode = modes.last_mut().expect("inside a POWER_MODEL block");
                mode.settings
                    .push((param.to_string(), arg.to_string(), value.to_string()));
            } else {
                return Err(format!(
                    "line {number}: expected PARAM ARG VALUE, got {line:?}"
                ));
            }
        }
    }
    Ok(NvpConfig { modes, default })
}

#[derive(Clone, Debug, PartialEq)]
pub struct Nvpmodel {
    pub binary: PathBuf,
    /// A config other than the default (`nvpmodel -f`).
    pub config: Option<PathBuf>,
}

impl Nvpmodel {
    /// nvpmodel at `binary`, else `GROUPSCALE_NVPMODEL`, else `/usr/sbin/nvpmodel`;
    /// `None` when it is not there.
    pub fn find(binary: Option<&Path>) -> Option<Self> {
        let binary = binary
            .map(Path::to_path_buf)
            .or_else(|| crate::settings::NVPMODEL.value().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/usr/sbin/nvpmodel"));
        binary.exists().then_some(Self {
            binary,
            config: None,
        })
    }

    /// The modes declared in the config under `sysfs`'s root.
    pub fn modes(&self, sysfs: &Sysfs) -> Result<NvpConfig> {
        let path = self
            .config
            .clone()
            .unwrap_or_else(|| sysfs.path("/etc/nvpmodel.conf"));
        let text = sysfs.read(&path)?;
        parse_conf(&text).map_err(|why| PlatformError::Parse { path, why })
    }

    /// The current mode's id and name (`nvpmodel -q`).
    pub fn query(&self) -> Result<(u32, String)> {
        let out = self
            .command()
            .arg("-q")
            .output()
            .map_err(|e| PlatformError::Tool {
                tool: self.binary.display().to_string(),
                why: e.to_string(),
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("NV Power Mode:"))
            .map(|n| n.trim().to_string())
            .unwrap_or_default();
        let id = text
            .lines()
            .rev()
            .find_map(|l| l.trim().parse().ok())
            .ok_or_else(|| PlatformError::Tool {
                tool: self.binary.display().to_string(),
                why: format!("no mode number in `-q` output {text:?}"),
            })?;
        Ok((id, name))
    }

    /// Switches to `mode`, recording the current one so the guard returns to it.
    pub fn set(&self, guard: &mut ClockGuard, sysfs: &Sysfs, mode: u32) -> Result<()> {
        let known = self.modes(sysfs)?;
        if !known.modes.iter().any(|m| m.id == mode) {
            let ids: Vec<String> = known
                .modes
                .iter()
                .map(|m| format!("{} ({})", m.id, m.name))
                .collect();
            return Err(PlatformError::Invalid(format!(
                "nvpmodel mode {mode} is not in the config; modes: {}",
                ids.join(", ")
            )));
        }
        // The guard undoes the change with its own nvpmodel; adopting this
        // one where it has none keeps the two the same tool.
        guard.use_nvpmodel(self)?;
        let (previous, _) = self.query()?;
        let change = Change::Nvpmodel { previous };
        guard.apply_tool_change(
            change,
            &format!("run {} -m {mode}", self.binary.display()),
            || run_tool(self.command().arg("-m").arg(mode.to_string())),
        )
    }

    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        if let Some(config) = &self.config {
            cmd.arg("-f").arg(config);
        }
        cmd
    }
}

/// Runs `jetson_clocks` (maximum clocks), after `--store` saves the current
/// ones beside the guard's state file, so the guard can `--restore` them.
pub fn jetson_clocks(guard: &mut ClockGuard, binary: &Path) -> Result<()> {
    guard.use_jetson_clocks(binary)?;
    let store = guard.jetson_clocks_store().ok_or_else(|| {
        PlatformError::Invalid(
            "jetson_clocks needs a state file to store the clocks it replaces".into(),
        )
    })?;
    guard.apply_tool_change(
        Change::JetsonClocks {},
        &format!(
            "run {} (after --store {})",
            binary.display(),
            store.display()
        ),
        || {
            run_tool(Command::new(binary).arg("--store").arg(&store))?;
            run_tool(&mut Command::new(binary))
        },
    )
}
