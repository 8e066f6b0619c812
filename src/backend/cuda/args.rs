//! The kernels' argument structs, field for field as `kernels/groupscale.cuh`
//! declares them. Each kernel takes one by value. Every field is 8 or 4
//! bytes and the 8-byte ones come first, so C and Rust agree with no hidden
//! padding; the size checks below and the `static_assert`s in the header
//! fail the build if either side drifts.

/// A device address (CUdeviceptr), or a host address under the emulator.
pub type DevicePtr = u64;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConvArgs {
    pub input: DevicePtr,
    pub weights: DevicePtr,
    pub bias: DevicePtr,
    pub output: DevicePtr,
    pub batch: u32,
    pub in_c: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub out_c: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub og: u32,
    pub cg: u32,
    pub connectivity: u32,
    pub kh: u32,
    pub kw: u32,
    pub sh: u32,
    pub sw: u32,
    pub ph: u32,
    pub pw: u32,
    pub dh: u32,
    pub dw: u32,
    pub relu: u32,
    pub channel_tiles: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolArgs {
    pub input: DevicePtr,
    pub output: DevicePtr,
    pub planes: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub kh: u32,
    pub kw: u32,
    pub sh: u32,
    pub sw: u32,
    pub ph: u32,
    pub pw: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DenseArgs {
    pub input: DevicePtr,
    pub weights: DevicePtr,
    pub bias: DevicePtr,
    pub output: DevicePtr,
    pub batch: u32,
    pub in_len: u32,
    pub out_len: u32,
    pub og: u32,
    pub cg: u32,
    pub connectivity: u32,
    pub relu: u32,
    pub head: u32,
    pub k: u32,
    pub classes: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoftmaxArgs {
    pub input: DevicePtr,
    pub output: DevicePtr,
    pub rows: u32,
    pub cols: u32,
}

const _: () = {
    assert!(std::mem::size_of::<ConvArgs>() == 112);
    assert!(std::mem::size_of::<PoolArgs>() == 64);
    assert!(std::mem::size_of::<DenseArgs>() == 72);
    assert!(std::mem::size_of::<SoftmaxArgs>() == 24);
};

/// One kernel's arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Args {
    Conv(ConvArgs),
    Pool(PoolArgs),
    Dense(DenseArgs),
    Softmax(SoftmaxArgs),
}

impl Args {
    /// The struct's bytes, as the launch copies them into the kernel's
    /// parameter space.
    pub fn as_bytes(&self) -> &[u8] {
        fn bytes<T>(v: &T) -> &[u8] {
            // SAFETY: T is one of the padding-free #[repr(C)] structs of
            // plain integers above, so every byte is initialised.
            unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
        }
        match self {
            Args::Conv(a) => bytes(a),
            Args::Pool(a) => bytes(a),
            Args::Dense(a) => bytes(a),
            Args::Softmax(a) => bytes(a),
        }
    }

    /// Rewrites the input and output addresses (the session chains layers
    /// through its own device buffers).
    pub fn set_io(&mut self, input: DevicePtr, output: DevicePtr) {
        let (i, o) = match self {
            Args::Conv(a) => (&mut a.input, &mut a.output),
            Args::Pool(a) => (&mut a.input, &mut a.output),
            Args::Dense(a) => (&mut a.input, &mut a.output),
            Args::Softmax(a) => (&mut a.input, &mut a.output),
        };
        *i = input;
        *o = output;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// The `GS_AT(Struct, member, offset)` list in `kernels/groupscale.cuh`
    /// (which the emulator's C++ compiler checks against the C structs)
    /// against the Rust structs, member by member, and complete: every Rust
    /// field is in the list.
    #[test]
    fn the_header_offsets_match_the_rust_structs_member_by_member() {
        macro_rules! fields {
            ($t:ident: $($f:ident),* $(,)?) => {
                (stringify!($t), vec![$((stringify!($f), offset_of!($t, $f))),*])
            };
        }
        let rust = [
            fields!(ConvArgs: input, weights, bias, output, batch, in_c, in_h, in_w, out_c,
                out_h, out_w, og, cg, connectivity, kh, kw, sh, sw, ph, pw, dh, dw, relu,
                channel_tiles),
            fields!(PoolArgs: input, output, planes, in_h, in_w, out_h, out_w, kh, kw, sh, sw,
                ph, pw, _pad),
            fields!(DenseArgs: input, weights, bias, output, batch, in_len, out_len, og, cg,
                connectivity, relu, head, k, classes),
            fields!(SoftmaxArgs: input, output, rows, cols),
        ];
        let header = include_str!("../../../kernels/groupscale.cuh");
        let listed: Vec<(String, String, usize)> = header
            .split("GS_AT(")
            .skip(2) // the text before the first, and the macro's definition
            .map(|rest| {
                let args = &rest[..rest.find(')').unwrap()];
                let parts: Vec<&str> = args.split(',').map(str::trim).collect();
                (parts[0].into(), parts[1].into(), parts[2].parse().unwrap())
            })
            .collect();
        let mut expected = Vec::new();
        for (name, fields) in &rust {
            for (field, offset) in fields {
                expected.push((name.to_string(), field.to_string(), *offset));
            }
        }
        assert_eq!(
            listed, expected,
            "kernels/groupscale.cuh GS_AT list against args.rs"
        );
    }
}
