// Row-wise softmax; one invocation per row.

struct SoftmaxParams {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = flat_index(gid, groups);
    if (r >= p.rows) {
        return;
    }
    let base = r * p.cols;
    var m = bitcast<f32>(0xff800000u);
    for (var i = 0u; i < p.cols; i++) {
        m = max(m, x[base + i]);
    }
    var sum = 0.0;
    for (var i = 0u; i < p.cols; i++) {
        let e = exp(x[base + i] - m);
        y[base + i] = e;
        sum += e;
    }
    for (var i = 0u; i < p.cols; i++) {
        y[base + i] = y[base + i] / sum;
    }
}
