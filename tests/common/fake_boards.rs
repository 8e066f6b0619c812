//! Fake sysfs trees of a Jetson Nano, an Odroid XU3 and an x86 laptop, with
//! fake nvpmodel and jetson_clocks scripts, in temp dirs.
//!
//! They are plain files, so they do not behave like the kernel by
//! themselves: a written value is stored as is (the kernel would round a
//! frequency to its table, reject min > max on older kernels, and update
//! `scaling_cur_freq` and `online`). Tests that depend on such behaviour say
//! which one they model, and model it by writing the files themselves.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Readable by an unprivileged user, for the permission tests.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, system_path: &str) -> PathBuf {
        self.root().join(system_path.trim_start_matches('/'))
    }

    /// Writes a sysfs-style file (a trailing newline, as the kernel prints).
    pub fn file(&self, system_path: &str, contents: &str) {
        self.raw(system_path, format!("{contents}\n").as_bytes());
    }

    pub fn raw(&self, system_path: &str, contents: &[u8]) {
        let path = self.path(system_path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        for dir in path
            .ancestors()
            .skip(1)
            .take_while(|d| d.starts_with(self.root()))
        {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
    }

    pub fn script(&self, system_path: &str, body: &str) -> PathBuf {
        self.raw(system_path, format!("#!/bin/sh\n{body}").as_bytes());
        let path = self.path(system_path);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    pub fn read(&self, system_path: &str) -> String {
        std::fs::read_to_string(self.path(system_path)).unwrap()
    }

    /// Every file and its bytes, to prove a scenario left the tree as it was.
    ///
    /// `scaling_setspeed` is left out: the kernel derives it from the
    /// governor (it reads `<unsupported>` whenever `userspace` is not the
    /// governor), so restoring the governor restores it, which a plain file
    /// cannot show. The governor itself is compared.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.file_name().is_some_and(|n| n == "scaling_setspeed") {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(self.root(), &mut files);
        files
    }

    /// Panics naming every file that differs from `before`, as text.
    pub fn assert_unchanged(&self, before: &BTreeMap<PathBuf, Vec<u8>>, context: &str) {
        let after = self.snapshot();
        let mut diffs = Vec::new();
        for path in before
            .keys()
            .chain(after.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            let (b, a) = (before.get(path), after.get(path));
            if b != a {
                let show = |v: Option<&Vec<u8>>| {
                    v.map_or("(absent)".into(), |v| {
                        format!("{:?}", String::from_utf8_lossy(v))
                    })
                };
                diffs.push(format!(
                    "{}: {} -> {}",
                    path.strip_prefix(self.root()).unwrap().display(),
                    show(b),
                    show(a)
                ));
            }
        }
        assert!(
            diffs.is_empty(),
            "{context}: files changed:\n{}",
            diffs.join("\n")
        );
    }

    fn policy(&self, id: usize, cpus: &str, governors: &str, table: &[u64], min: u64, max: u64) {
        let dir = format!("/sys/devices/system/cpu/cpufreq/policy{id}");
        let list: Vec<String> = table.iter().map(u64::to_string).collect();
        self.file(&format!("{dir}/related_cpus"), cpus);
        self.file(&format!("{dir}/affected_cpus"), cpus);
        self.file(&format!("{dir}/scaling_driver"), "cpufreq-dt");
        self.file(&format!("{dir}/scaling_governor"), "schedutil");
        self.file(&format!("{dir}/scaling_available_governors"), governors);
        self.file(
            &format!("{dir}/scaling_available_frequencies"),
            &list.join(" "),
        );
        self.file(&format!("{dir}/scaling_min_freq"), &min.to_string());
        self.file(&format!("{dir}/scaling_max_freq"), &max.to_string());
        self.file(&format!("{dir}/scaling_cur_freq"), &max.to_string());
        // The kernel shows this until the userspace governor owns it.
        self.file(&format!("{dir}/scaling_setspeed"), "<unsupported>");
    }

    fn cpus(&self, count: usize) {
        self.file(
            "/sys/devices/system/cpu/online",
            &format!("0-{}", count - 1),
        );
        self.file(
            "/sys/devices/system/cpu/possible",
            &format!("0-{}", count - 1),
        );
        for cpu in 1..count {
            self.file(&format!("/sys/devices/system/cpu/cpu{cpu}/online"), "1");
        }
    }

    fn devfreq(&self, name: &str, table: &[u64]) {
        let dir = format!("/sys/class/devfreq/{name}");
        let list: Vec<String> = table.iter().map(u64::to_string).collect();
        self.file(&format!("{dir}/governor"), "nvhost_podgov");
        self.file(
            &format!("{dir}/available_governors"),
            "nvhost_podgov userspace performance simple_ondemand",
        );
        self.file(&format!("{dir}/available_frequencies"), &list.join(" "));
        self.file(&format!("{dir}/min_freq"), &table[0].to_string());
        self.file(
            &format!("{dir}/max_freq"),
            &table[table.len() - 1].to_string(),
        );
        self.file(&format!("{dir}/cur_freq"), &table[0].to_string());
    }
}

pub const NANO_CPU_TABLE: [u64; 15] = [
    102000, 204000, 307200, 403200, 518400, 614400, 710400, 825600, 921600, 1036800, 1132800,
    1224000, 1326000, 1428000, 1479000,
];

pub fn jetson_nano() -> Tree {
    let t = Tree::new();
    t.raw(
        "/proc/device-tree/compatible",
        b"nvidia,p3450-0000\0nvidia,jetson-nano\0nvidia,tegra210\0",
    );
    t.raw(
        "/proc/device-tree/model",
        b"NVIDIA Jetson Nano Developer Kit\0",
    );
    t.cpus(4);
    t.policy(
        0,
        "0-3",
        "interactive conservative ondemand userspace powersave performance schedutil",
        &NANO_CPU_TABLE,
        102000,
        1479000,
    );
    let gpu: Vec<u64> = (1..=12).map(|i| i * 76_800_000).collect();
    t.devfreq("57000000.gpu", &gpu);
    let iio = "/sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0";
    for (i, (name, mw)) in [
        ("POM_5V_IN", 3120),
        ("POM_5V_GPU", 412),
        ("POM_5V_CPU", 1037),
    ]
    .iter()
    .enumerate()
    {
        t.file(&format!("{iio}/rail_name_{i}"), name);
        t.file(&format!("{iio}/in_power{i}_input"), &mw.to_string());
    }
    t.file(
        "/etc/nvpmodel.conf",
        "# Jetson Nano\n< PARAM TYPE=FILE NAME=CPU_ONLINE >\nCORE_0 /sys/devices/system/cpu/cpu0/online\n\
         < PARAM TYPE=CLOCK NAME=CPU_A57 >\nMAX_FREQ /sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq\n\
         < POWER_MODEL ID=0 NAME=MAXN >\nCPU_ONLINE CORE_0 1\nCPU_A57 MAX_FREQ -1\nGPU MAX_FREQ -1\n\
         < POWER_MODEL ID=1 NAME=5W >\nCPU_ONLINE CORE_2 0\nCPU_A57 MAX_FREQ 918000\nGPU MAX_FREQ 640000000\n\
         < POWER_MODEL ID=7 NAME=MY_CUSTOM_3W >\nCPU_A57 MAX_FREQ 614400\n\
         < PM_CONFIG DEFAULT=0 >",
    );
    t.raw("/var/lib/nvpmodel/status", b"pmode:0000");
    t.file("/sys/kernel/debug/clk/override.emc/clk_rate", "1600000000");
    t.file("/sys/kernel/nvpmodel_emc_cap/emc_iso_cap", "0");
    t.file("/sys/kernel/debug/tegra_bwmgr/emc_min_rate", "204000000");
    t.file("/sys/kernel/debug/tegra_bwmgr/emc_max_rate", "1600000000");
    t.script(
        "/usr/sbin/nvpmodel",
        r#"status="$(dirname "$0")/../../var/lib/nvpmodel/status"
case "$1" in
  -q) id=$(sed 's/pmode:0*//' "$status"); id=${id:-0}
      case "$id" in 0) echo "NV Power Mode: MAXN";; 1) echo "NV Power Mode: 5W";; *) echo "NV Power Mode: CUSTOM";; esac
      echo "$id";;
  -m) printf 'pmode:%04d' "$2" > "$status";;
  *) echo "usage" >&2; exit 1;;
esac
"#,
    );
    t.script(
        "/usr/bin/jetson_clocks",
        r#"policy="$(dirname "$0")/../../sys/devices/system/cpu/cpufreq/policy0"
case "$1" in
  --store) cat "$policy/scaling_min_freq" > "$2";;
  --restore) cat "$2" > "$policy/scaling_min_freq";;
  "") cat "$policy/scaling_max_freq" > "$policy/scaling_min_freq";;
esac
"#,
    );
    t
}

pub fn odroid_xu3() -> Tree {
    let t = Tree::new();
    t.raw(
        "/proc/device-tree/compatible",
        b"hardkernel,odroid-xu3\0samsung,exynos5422\0samsung,exynos5\0",
    );
    t.raw("/proc/device-tree/model", b"Hardkernel Odroid XU3\0");
    t.cpus(8);
    let little: Vec<u64> = (2..=14).map(|i| i * 100_000).collect();
    let big: Vec<u64> = (2..=20).map(|i| i * 100_000).collect();
    // The A7 policy has no userspace governor: frequencies are pinned with min = max.
    t.policy(
        0,
        "0-3",
        "ondemand performance schedutil",
        &little,
        200000,
        1400000,
    );
    t.policy(
        4,
        "4-7",
        "ondemand userspace performance schedutil",
        &big,
        200000,
        2000000,
    );
    t.raw("/proc/cpuinfo", b"processor\t: 0\nCPU part\t: 0xc07\n\nprocessor\t: 1\nCPU part\t: 0xc07\n\nprocessor\t: 2\nCPU part\t: 0xc07\n\nprocessor\t: 3\nCPU part\t: 0xc07\n\nprocessor\t: 4\nCPU part\t: 0xc0f\n\nprocessor\t: 5\nCPU part\t: 0xc0f\n\nprocessor\t: 6\nCPU part\t: 0xc0f\n\nprocessor\t: 7\nCPU part\t: 0xc0f\n\n");
    t.devfreq(
        "11800000.gpu",
        &[
            177_000_000,
            266_000_000,
            350_000_000,
            420_000_000,
            480_000_000,
            543_000_000,
        ],
    );
    for (addr, watts) in [
        ("0040", "3.141593"),
        ("0041", "0.250000"),
        ("0044", "0.400000"),
        ("0045", "0.125000"),
    ] {
        let dir = format!("/sys/bus/i2c/drivers/INA231/3-{addr}");
        t.file(&format!("{dir}/sensor_W"), watts);
        t.file(&format!("{dir}/enable"), "0");
        t.file(&format!("{dir}/update_period"), "263808 usec");
    }
    t
}

/// An Odroid XU3 on Hardkernel's 3.10 kernel: the Mali has no devfreq,
/// only its own DVFS files in MHz.
pub fn odroid_xu3_legacy_kernel() -> Tree {
    let t = odroid_xu3();
    std::fs::remove_dir_all(t.path("/sys/class/devfreq")).unwrap();
    t.file(
        "/sys/devices/11800000.mali/dvfs_table",
        "177 266 350 420 480 543",
    );
    t.file("/sys/devices/11800000.mali/clock", "177");
    t.file("/sys/devices/11800000.mali/dvfs_min_lock", "0");
    t.file("/sys/devices/11800000.mali/dvfs_max_lock", "0");
    t
}

pub fn laptop() -> Tree {
    let t = Tree::new();
    t.cpus(4);
    // intel_pstate publishes no frequency table and no userspace governor.
    t.policy(0, "0", "performance powersave", &[], 400000, 4200000);
    t.policy(1, "1", "performance powersave", &[], 400000, 4200000);
    t.file("/sys/class/hwmon/hwmon3/name", "BAT0");
    t.file("/sys/class/hwmon/hwmon3/power1_input", "12500000");
    t
}
