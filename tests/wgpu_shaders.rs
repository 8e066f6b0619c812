//! Every WGSL shader, in both weight precisions, parses and validates with
//! naga, so a shader error shows up on machines with no GPU adapter at all.
#![cfg(feature = "wgpu")]

use groupscale::backend::wgpu::shaders::{source, Entry};

#[test]
fn every_shader_validates_offline() {
    for entry in Entry::ALL {
        for f16 in [false, true] {
            let src = source(entry, f16);
            let module = naga::front::wgsl::parse_str(&src)
                .unwrap_or_else(|e| panic!("{entry:?} (f16 {f16}): {}", e.emit_to_string(&src)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::all(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{entry:?} (f16 {f16}): {}", e.emit_to_string(&src)));
            assert!(
                module.entry_points.iter().any(|ep| ep.name == entry.name()),
                "{entry:?}: no entry point `{}`",
                entry.name()
            );
        }
    }
}

#[test]
fn a_broken_shader_is_caught() {
    // The check above must be able to fail.
    let src = source(Entry::Conv, false).replace("acc += bias[co];", "acc += bias[co] + true;");
    let parsed = naga::front::wgsl::parse_str(&src);
    let valid = parsed.ok().map(|m| {
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&m)
        .is_ok()
    });
    assert_ne!(valid, Some(true));
}

#[test]
fn no_adapter_is_unavailable_not_a_panic() {
    use groupscale::backend::wgpu::{WgpuBackend, WgpuOptions};
    let options = WgpuOptions {
        backends: wgpu::Backends::empty(),
        ..WgpuOptions::from_env()
    };
    match WgpuBackend::open_blocking(&options) {
        Err(groupscale::Error::BackendUnavailable { reason, .. }) => {
            assert!(!reason.is_empty())
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("an adapter with no backends enabled"),
    }
}
