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
    let good = source(Entry::Conv, false);
    let src = good.replace("add = bias[co];", "add = bias[co] + true;");
    assert_ne!(src, good, "the planted error must change the shader");
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

/// Each shader's uniform struct, as naga lays it out, against the Rust
/// mirror in `src/backend/wgpu/params.rs`: member by member, by name and
/// offset, and the struct's size (a size check alone misses two swapped
/// fields).
#[test]
fn uniform_structs_match_their_rust_mirrors_member_by_member() {
    use groupscale::backend::wgpu::params::{ConvParams, DenseParams, PoolParams, SoftmaxParams};
    use std::mem::{offset_of, size_of};
    macro_rules! fields {
        ($t:ty: $($f:ident),* $(,)?) => {
            (stringify!($t), size_of::<$t>(), vec![$((stringify!($f), offset_of!($t, $f))),*])
        };
    }
    let mirrors = [
        (
            Entry::Conv,
            fields!(ConvParams: in_c, in_h, in_w, out_c, out_h, out_w, og, cg,
            connectivity, kh, kw, sh, sw, ph, pw, dh, dw, relu, has_bias, m_tiles),
        ),
        (
            Entry::MaxPool,
            fields!(PoolParams: planes, in_h, in_w, out_h, out_w, kh, kw, sh, sw,
            ph, pw, _pad),
        ),
        (
            Entry::Linear,
            fields!(DenseParams: batch, in_len, out_len, og, cg, connectivity, relu,
            has_bias, k, classes, _pad0, _pad1),
        ),
        (
            Entry::Softmax,
            fields!(SoftmaxParams: rows, cols, _pad0, _pad1),
        ),
    ];
    for (entry, (name, size, fields)) in mirrors {
        for f16 in [false, true] {
            let module = naga::front::wgsl::parse_str(&source(entry, f16)).unwrap();
            let (members, span) = module
                .types
                .iter()
                .find_map(|(_, ty)| match &ty.inner {
                    naga::TypeInner::Struct { members, span }
                        if ty.name.as_deref() == Some(name) =>
                    {
                        Some((members.clone(), *span))
                    }
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{entry:?}: no struct {name}"));
            let wgsl: Vec<(String, usize)> = members
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
                .collect();
            let rust: Vec<(String, usize)> =
                fields.iter().map(|&(n, o)| (n.to_string(), o)).collect();
            assert_eq!(
                wgsl, rust,
                "{name} (f16 {f16}): WGSL members against the Rust fields"
            );
            assert_eq!(
                span as usize, size,
                "{name}: WGSL size against the Rust size"
            );
        }
    }
}

/// The tile sizes the host sizes its dispatches by (`params.rs`) against the
/// constants the shaders tile with: a mismatch would leave outputs unwritten
/// or write past a group.
#[test]
fn dispatch_tiles_match_the_shaders() {
    use groupscale::backend::wgpu::params::{CONV_TILE_M, CONV_TILE_N, LINEAR_OUTPUTS};
    let constant = |entry: Entry, name: &str| -> u32 {
        let module = naga::front::wgsl::parse_str(&source(entry, false)).unwrap();
        let (_, c) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{entry:?}: no constant {name}"));
        match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => v,
            ref other => panic!("{entry:?}: {name} is {other:?}, not a u32 literal"),
        }
    };
    assert_eq!(constant(Entry::Conv, "TILE_M"), CONV_TILE_M);
    assert_eq!(constant(Entry::Conv, "TILE_N"), CONV_TILE_N);
    assert_eq!(constant(Entry::Linear, "OUTPUTS"), LINEAR_OUTPUTS);
}
