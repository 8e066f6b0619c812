// Grouped 2-D convolution over the first k groups, with fused bias and ReLU,
// as a tiled implicit GEMM per group: for group j, the output block
// [og channels] × [out_h·out_w pixels] is the product of the group's weights
// [og] × [rows·kh·kw] and the im2col view of its input channels.
//
// One workgroup computes TILE_M channels of one group × TILE_N pixels of one
// image. The reduction runs TILE_K steps at a time: the 64 invocations stage
// that slice of the weights and of the im2col input in workgroup memory
// (zeros past the group's channels, the image's pixels and the reduction's
// end, so the inner loop has no bounds checks), then each invocation
// accumulates its own 8 channels × 8 pixels in registers from four vec4
// reads per step: 64 fused multiply-adds per 16 values read. The grid is
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

    // Invocation t stages pixel n0 + t of every step (neighbouring
    // invocations read neighbouring pixels), and computes channels
    // m0 + 8·tm .. +8 × pixels n0 + 8·tn .. +8.
    let staged = n0 + t;
    let y0 = i32((staged / p.out_w) * p.sh) - i32(p.ph);
    let x0 = i32((staged % p.out_w) * p.sw) - i32(p.pw);
    let tm = t / 8u;
    let tn = t % 8u;
    let busy = m0 + 8u * tm < p.og && n0 + 8u * tn < pixels;

    // The im2col position of reduction step kk: input plane, kernel row and
    // column, advanced by one per staged step instead of divided out of kk
    // (integer division has no vector instruction on CPUs and costs tens of
    // instructions on GPUs; per staged element it outweighed the products).
    var plane = planes;
    var ky = 0u;
    var kx = 0u;
    var acc: array<vec4<f32>, 16>;   // [channel 0..8][pixel half 0..2]
    for (var k0 = 0u; k0 < depth; k0 += TILE_K) {
        for (var i = 0u; i < TILE_K; i++) {
            // Weights: neighbouring invocations read neighbouring steps of
            // one weight row.
            let e = i * 64u + t;
            let step = e % TILE_K;
            let m = e / TILE_K;
            var v = 0.0;
            if (m0 + m < p.og && k0 + step < depth) {
                v = f32(w[weights + (m0 + m) * depth + k0 + step]);
            }
            w_tile[step * ROW + m / 4u][m % 4u] = v;

            // Input: step i of this invocation's pixel.
            var u = 0.0;
            if (staged < pixels && k0 + i < depth) {
                let iy = y0 + i32(ky * p.dh);
                let ix = x0 + i32(kx * p.dw);
                if (iy >= 0 && iy < i32(p.in_h) && ix >= 0 && ix < i32(p.in_w)) {
                    u = x[(plane * p.in_h + u32(iy)) * p.in_w + u32(ix)];
                }
            }
            x_tile[i * ROW + t / 4u][t % 4u] = u;
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
