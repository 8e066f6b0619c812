//! The knob registry (`groupscale::settings::KNOBS`) against the sources and
//! the docs: every `GROUPSCALE_*` name that the code, the build script, the
//! tests, the benches or the docs mention is registered; the library reads
//! none of them around the registry; docs/knobs.md is generated from it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use groupscale::settings::{knob_named, knobs_markdown, KNOBS};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn files(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, extensions, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            out.push(path);
        }
    }
}

/// Every `GROUPSCALE_[A-Z0-9_]+` name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("GROUPSCALE_") {
        let tail = &text[at + "GROUPSCALE_".len()..];
        let len = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..len].trim_end_matches('_');
        if !name.is_empty() {
            names.insert(format!("GROUPSCALE_{name}"));
        }
    }
    names
}

fn sources() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut out = vec![root.join("build.rs"), root.join("README.md")];
    for dir in [
        "src",
        "tests",
        "benches",
        "examples",
        "fuzz/fuzz_targets",
        "docs",
        "scripts",
        "train",
    ] {
        files(&root.join(dir), &["rs", "md", "sh", "py"], &mut out);
    }
    out
}

#[test]
fn every_name_in_the_sources_and_docs_is_registered() {
    let mut unregistered = Vec::new();
    for path in sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        for name in names_in(&text) {
            if knob_named(&name).is_none() {
                unregistered.push(format!("{name} in {}", path.display()));
            }
        }
    }
    assert!(
        unregistered.is_empty(),
        "not in settings::KNOBS: {unregistered:#?}"
    );
}

#[test]
fn every_registered_knob_is_used_and_unique() {
    let mut seen = BTreeSet::new();
    let mut all_text = String::new();
    for path in sources() {
        if path.ends_with("src/settings.rs") || path.ends_with("docs/knobs.md") {
            continue;
        }
        all_text.push_str(&std::fs::read_to_string(&path).unwrap());
    }
    for knob in KNOBS {
        assert!(seen.insert(knob.name), "{} registered twice", knob.name);
        // The Rust sources name a library knob by its constant.
        let constant = knob.name.trim_start_matches("GROUPSCALE_");
        assert!(
            all_text.contains(knob.name) || all_text.contains(&format!("settings::{constant}")),
            "{} is registered but nothing reads it",
            knob.name
        );
    }
}

#[test]
fn the_library_reads_its_knobs_only_through_the_registry() {
    let mut files_ = Vec::new();
    files(&Path::new(ROOT).join("src"), &["rs"], &mut files_);
    for path in files_ {
        let text = std::fs::read_to_string(&path).unwrap();
        for pattern in ["var(\"GROUPSCALE_", "var_os(\"GROUPSCALE_"] {
            assert!(
                !text.contains(pattern),
                "{} reads a GROUPSCALE_ variable directly; use settings::KNOB.value()",
                path.display()
            );
        }
    }
}

#[test]
fn docs_knobs_md_is_generated_from_the_registry() {
    let path = Path::new(ROOT).join("docs/knobs.md");
    let expected = knobs_markdown();
    if std::env::var_os("UPDATE_KNOBS_DOC").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let found = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        found == expected,
        "docs/knobs.md is out of date: run `UPDATE_KNOBS_DOC=1 cargo test --test knobs`"
    );
}
