// Grouped 2-D convolution over the first k groups, with fused bias and ReLU,
// as a tiled implicit GEMM per group: for group j, the output block
// [og channels] × [out_h·out_w pixels] is the product of the group's weights
// [og] × [rows·kh·kw] and the im2col view of its input channels.
//
// One workgroup computes TILE_M channels of one group × TILE_N pixels of one
// image. The reduction runs TILE_K steps at a time: the 64 invocations stage
// that slice of the weights and of the im2col input in workgroup memory,
// four values to a vec4 store (zeros past the group's channels, the image's
// pixels and the reduction's end, so the inner loop has no bounds checks),
// then each invocation accumulates its own 8 channels × 8 pixels in
// registers from four vec4 reads per step: 64 fused multiply-adds per 16
// values read. The grid is
// (pixel tiles, k · tiles per group, batch), so the inactive groups are
// never dispatched.
//
// Workgroup memory is 2 × TILE_K × 64 × 4 bytes = 8 KiB with 64
// invocations: within the WebGPU defaults and the GL ES 3.1 minimums
// (16 KiB, 128 invocations), so one tile size serves every adapter wgpu
// opens for compute.

const TILE_M: u32 = 64u;   // output channels per workgroup
const TILE_N: u32 = 64u;   // output pixels per workgroup
const TILE_K: u32 = 16u;   // reduction steps staged per pass
const ROW: u32 = 16u;      // vec4s per staged step: TILE_M / 4 = TILE_N / 4

struct ConvParams {
    in_c: u32,       // input channels present (the active ones)
    in_h: u32,
    in_w: u32,
    out_c: u32,      // active output channels, k·Cout/G
    out_h: u32,
    out_w: u32,
    og: u32,         // output channels per group (under full: all k·Cout/G, one product)
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
    m_tiles: u32,    // workgroups across one group's channels, ceil(og / TILE_M)
}

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<W>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// [TILE_K][TILE_M / 4] weights and [TILE_K][TILE_N / 4] inputs: one vec4
// read gives an invocation 4 channels (or 4 pixels) of one step.
var<workgroup> w_tile: array<vec4<f32>, TILE_K * ROW>;
var<workgroup> x_tile: array<vec4<f32>, TILE_K * ROW>;

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
fn conv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let pixels = p.out_h * p.out_w;
    let n = wg.z;
    let j = wg.y / p.m_tiles;
    let m0 = (wg.y % p.m_tiles) * TILE_M;
    let n0 = wg.x * TILE_N;
    let taps = p.kh * p.kw;
    let depth = group_count(j) * taps;   // this group's reduction length
    let weights = group_weights(j, taps);
    let planes = n * p.in_c + group_first(j);

    // Invocation t computes channels m0 + 8·tm .. +8 × pixels n0 + 8·tn .. +8.
    let tm = t / 8u;
    let tn = t % 8u;
    let busy = m0 + 8u * tm < p.og && n0 + 8u * tn < pixels;

    // Staging writes whole vec4s (a store into one component of a vec4 in
    // workgroup memory costs a CPU driver a read-modify-write per lane).
    // Weights: invocation t stages step t % TILE_K of channel quads
    // t / TILE_K + 4r, so neighbouring invocations read neighbouring steps
    // of the same four rows. Input: it stages pixel quad t % ROW at steps
    // 4·(t / ROW) + r, so neighbouring invocations read neighbouring pixels.
    let w_step = t % TILE_K;
    let x_quad = t % ROW;
    let x_step = 4u * (t / ROW);
    let quad = vec4<u32>(n0 + 4u * x_quad) + vec4<u32>(0u, 1u, 2u, 3u);
    let in_image = quad < vec4<u32>(pixels);
    let y_base = vec4<i32>((quad / p.out_w) * p.sh) - vec4<i32>(i32(p.ph));
    let x_base = vec4<i32>((quad % p.out_w) * p.sw) - vec4<i32>(i32(p.pw));
    let in_h = vec4<i32>(i32(p.in_h));
    let in_w = vec4<i32>(i32(p.in_w));

    var acc: array<vec4<f32>, 16>;   // [channel 0..8][pixel half 0..2]
    for (var k0 = 0u; k0 < depth; k0 += TILE_K) {
        for (var r = 0u; r < 4u; r++) {
            let quad_m = t / TILE_K + 4u * r;
            let m = m0 + 4u * quad_m;
            var v = vec4<f32>(0.0);
            if (k0 + w_step < depth) {
                let at = weights + m * depth + k0 + w_step;
                if (m < p.og) { v.x = f32(w[at]); }
                if (m + 1u < p.og) { v.y = f32(w[at + depth]); }
                if (m + 2u < p.og) { v.z = f32(w[at + 2u * depth]); }
                if (m + 3u < p.og) { v.w = f32(w[at + 3u * depth]); }
            }
            w_tile[w_step * ROW + quad_m] = v;
        }

        // The im2col position of this invocation's first input step: one
        // division per pass, then a counter per step (integer division has
        // no vector instruction on CPUs and is slow on GPUs).
        let first = k0 + x_step;
        let tap = first % taps;
        var plane = planes + first / taps;
        var ky = tap / p.kw;
        var kx = tap % p.kw;
        for (var r = 0u; r < 4u; r++) {
            let iy = y_base + vec4<i32>(i32(ky * p.dh));
            let ix = x_base + vec4<i32>(i32(kx * p.dw));
            let ok = in_image & vec4<bool>(first + r < depth) & (iy >= vec4<i32>(0)) & (iy < in_h)
                & (ix >= vec4<i32>(0)) & (ix < in_w);
            let at = (vec4<u32>(plane * p.in_h) + vec4<u32>(iy)) * p.in_w + vec4<u32>(ix);
            var u = vec4<f32>(0.0);
            if (ok.x) { u.x = x[at.x]; }
            if (ok.y) { u.y = x[at.y]; }
            if (ok.z) { u.z = x[at.z]; }
            if (ok.w) { u.w = x[at.w]; }
            x_tile[(x_step + r) * ROW + x_quad] = u;
            let next_row = kx + 1u == p.kw;
            let next_plane = next_row && ky + 1u == p.kh;
            kx = select(kx + 1u, 0u, next_row);
            ky = select(select(ky, ky + 1u, next_row), 0u, next_plane);
            plane += select(0u, 1u, next_plane);
        }
        workgroupBarrier();
        // Invocations whose channels are all past the group's end (a first
        // layer at k = 1 fills a quarter of the tile) skip the products.
        for (var s = 0u; s < select(0u, TILE_K, busy); s++) {
            let a0 = w_tile[s * ROW + 2u * tm];
            let a1 = w_tile[s * ROW + 2u * tm + 1u];
            let b0 = x_tile[s * ROW + 2u * tn];
            let b1 = x_tile[s * ROW + 2u * tn + 1u];
            acc[0] += a0.x * b0;
            acc[1] += a0.x * b1;
            acc[2] += a0.y * b0;
            acc[3] += a0.y * b1;
            acc[4] += a0.z * b0;
            acc[5] += a0.z * b1;
            acc[6] += a0.w * b0;
            acc[7] += a0.w * b1;
            acc[8] += a1.x * b0;
            acc[9] += a1.x * b1;
            acc[10] += a1.y * b0;
            acc[11] += a1.y * b1;
            acc[12] += a1.z * b0;
            acc[13] += a1.z * b1;
            acc[14] += a1.w * b0;
            acc[15] += a1.w * b1;
        }
        workgroupBarrier();
    }

    for (var r = 0u; r < 8u; r++) {
        let m = m0 + 8u * tm + r;
        if (m < p.og) {
            let co = j * p.og + m;
            var add = 0.0;
            if (p.has_bias != 0u) {
                add = bias[co];
            }
            let out = (n * p.out_c + co) * pixels;
            for (var c = 0u; c < 8u; c++) {
                let pixel = n0 + 8u * tn + c;
                if (pixel < pixels) {
                    var v = acc[2u * r + c / 4u][c % 4u] + add;
                    if (p.relu != 0u) {
                        v = max(v, 0.0);
                    }
                    y[out + pixel] = v;
                }
            }
        }
    }
}
