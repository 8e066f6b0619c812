//! The nvpmodel.conf parser (`groupscale::platform::nvpmodel::parse_conf`),
//! on arbitrary UTF-8: a config or an error, never a panic. An accepted
//! config's modes keep their IDs and settings when written out again in the
//! same syntax and re-parsed (for names and values the syntax can carry).

#![no_main]

use groupscale::platform::nvpmodel::{parse_conf, NvpConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = parse_conf(text) else {
        return;
    };
    if let Some(written) = write(&config) {
        let again = parse_conf(&written)
            .unwrap_or_else(|e| panic!("re-parsing {written:?}: {e}"));
        assert_eq!(config, again, "config changed when written out as {written:?}");
    }
});

/// The config in nvpmodel.conf syntax, or `None` when a name or value
/// could not be written so that it reads back the same (empty, or holding
/// whitespace, `=`, `<`, `>` or `#`).
fn write(config: &NvpConfig) -> Option<String> {
    let plain = |s: &str| {
        !s.is_empty()
            && !s.chars().any(|c| c.is_whitespace() || "=<>#".contains(c))
    };
    let mut out = String::new();
    for mode in &config.modes {
        if mode.name.is_empty() {
            out.push_str(&format!("< POWER_MODEL ID={} >\n", mode.id));
        } else if plain(&mode.name) {
            out.push_str(&format!("< POWER_MODEL ID={} NAME={} >\n", mode.id, mode.name));
        } else {
            return None;
        }
        for (param, arg, value) in &mode.settings {
            if ![param, arg, value].iter().all(|s| plain(s)) {
                return None;
            }
            out.push_str(&format!("{param} {arg} {value}\n"));
        }
    }
    if let Some(d) = config.default {
        out.push_str(&format!("< PM_CONFIG DEFAULT={d} >\n"));
    }
    Some(out)
}
