// Grouped 2-D convolution over the first k groups, with fused bias and ReLU.
// One invocation computes one output element. The grid is
// (pixels / 64, active output channels, batch), so inactive groups are never
// dispatched.

struct ConvParams {
    in_c: u32,       // input channels present (the active ones)
    in_h: u32,
    in_w: u32,
    out_c: u32,      // active output channels, k·Cout/G
    out_h: u32,
    out_w: u32,
    og: u32,         // output channels per group
    cg: u32,         // input channels per group (all of them under `full`)
    connectivity: u32, // 0 isolated, 1 cumulative, 2 full
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    dh: u32,
    dw: u32,
    relu: u32,
    has_bias: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<W>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// Input channels group j reads: [first, first + count).
fn group_first(j: u32) -> u32 {
    return select(0u, j * p.cg, p.connectivity == 0u);
}

fn group_count(j: u32) -> u32 {
    return select(p.cg, (j + 1u) * p.cg, p.connectivity == 1u);
}

// Where group j's weights start (the crate's GroupLayout::group_weights).
fn group_weights(j: u32, taps: u32) -> u32 {
    if (p.connectivity == 1u) {
        return p.og * p.cg * taps * (j * (j + 1u) / 2u);
    }
    return j * p.og * p.cg * taps;
}

@compute @workgroup_size(64)
fn conv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pixel = gid.x;
    let co = gid.y;
    let n = gid.z;
    if (pixel >= p.out_h * p.out_w) {
        return;
    }
    let oy = pixel / p.out_w;
    let ox = pixel % p.out_w;
    let j = co / p.og;
    let o = co % p.og;
    let taps = p.kh * p.kw;
    let rows = group_count(j);
    let first = group_first(j);
    var wi = group_weights(j, taps) + o * rows * taps;
    let y0 = i32(oy * p.sh) - i32(p.ph);
    let x0 = i32(ox * p.sw) - i32(p.pw);
    var acc = 0.0;
    for (var ci = 0u; ci < rows; ci++) {
        let plane = (n * p.in_c + first + ci) * p.in_h * p.in_w;
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = y0 + i32(ky * p.dh);
            if (iy >= 0 && iy < i32(p.in_h)) {
                let row = plane + u32(iy) * p.in_w;
                for (var kx = 0u; kx < p.kw; kx++) {
                    let ix = x0 + i32(kx * p.dw);
                    if (ix >= 0 && ix < i32(p.in_w)) {
                        acc += f32(w[wi + ky * p.kw + kx]) * x[row + u32(ix)];
                    }
                }
            }
        }
        wi += taps;
    }
    if (p.has_bias != 0u) {
        acc += bias[co];
    }
    if (p.relu != 0u) {
        acc = max(acc, 0.0);
    }
    y[((n * p.out_c + co) * p.out_h + oy) * p.out_w + ox] = acc;
}
