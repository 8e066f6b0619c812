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
