// Grouped linear layer and classifier head over the first k groups. One
// invocation computes one output value; only active outputs are dispatched.

struct DenseParams {
    batch: u32,
    in_len: u32,       // features per item present (the active ones)
    out_len: u32,      // active outputs (linear) or classes (head)
    og: u32,           // linear: outputs per group; head: features per group
    cg: u32,           // linear: input features per group
    connectivity: u32, // 0 isolated, 1 cumulative, 2 full
    relu: u32,
    has_bias: u32,
    k: u32,            // head: active groups
    classes: u32,      // head
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: DenseParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<W>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn linear(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = flat_index(gid, groups);
    if (index >= p.batch * p.out_len) {
        return;
    }
    let n = index / p.out_len;
    let co = index % p.out_len;
    let j = co / p.og;
    let o = co % p.og;
    let first = select(0u, j * p.cg, p.connectivity == 0u);
    let rows = select(p.cg, (j + 1u) * p.cg, p.connectivity == 1u);
    var start = j * p.og * p.cg;
    if (p.connectivity == 1u) {
        start = p.og * p.cg * (j * (j + 1u) / 2u);
    }
    let wi = start + o * rows;
    let xi = n * p.in_len + first;
    var acc = 0.0;
    for (var i = 0u; i < rows; i++) {
        acc += f32(w[wi + i]) * x[xi + i];
    }
    if (p.has_bias != 0u) {
        acc += bias[co];
    }
    if (p.relu != 0u) {
        acc = max(acc, 0.0);
    }
    y[index] = acc;
}

// logits = Σ_{j<k} W_j·h_j + b_k, weights [G, classes, F/G], bias [G, classes].
@compute @workgroup_size(64)
fn head(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = flat_index(gid, groups);
    if (index >= p.batch * p.classes) {
        return;
    }
    let n = index / p.classes;
    let c = index % p.classes;
    let fg = p.og;
    var acc = bias[(p.k - 1u) * p.classes + c];
    for (var j = 0u; j < p.k; j++) {
        let wi = (j * p.classes + c) * fg;
        let xi = n * p.in_len + j * fg;
        for (var i = 0u; i < fg; i++) {
            acc += f32(w[wi + i]) * x[xi + i];
        }
    }
    y[index] = acc;
}
