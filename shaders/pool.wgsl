// Max-pooling of every channel plane, PyTorch semantics (floor mode,
// implicit -inf padding). A NaN input is ignored, as Rust's f32::max does,
// so an all-NaN window gives -inf: the same as the scalar oracle.

struct PoolParams {
    planes: u32,     // batch × channels
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: PoolParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn max_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = flat_index(gid, groups);
    let per_plane = p.out_h * p.out_w;
    if (index >= p.planes * per_plane) {
        return;
    }
    let plane = index / per_plane;
    let oy = (index % per_plane) / p.out_w;
    let ox = index % p.out_w;
    var best = bitcast<f32>(0xff800000u); // -inf
    for (var ky = 0u; ky < p.kh; ky++) {
        let iy = i32(oy * p.sh + ky) - i32(p.ph);
        if (iy < 0 || iy >= i32(p.in_h)) {
            continue;
        }
        for (var kx = 0u; kx < p.kw; kx++) {
            let ix = i32(ox * p.sw + kx) - i32(p.pw);
            if (ix < 0 || ix >= i32(p.in_w)) {
                continue;
            }
            let v = x[(plane * p.in_h + u32(iy)) * p.in_w + u32(ix)];
            if (v > best) {
                best = v;
            }
        }
    }
    y[index] = best;
}
