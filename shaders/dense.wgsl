// Grouped linear layer and classifier head over the first k groups, as
// workgroup reductions: the 64 invocations of a workgroup split one dot
// product (neighbouring invocations read neighbouring weights), then add
// their partial sums in a tree in workgroup memory. Only active outputs are
// dispatched.

const OUTPUTS: u32 = 4u;   // linear: outputs per workgroup, sharing input reads

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

var<workgroup> partial: array<vec4<f32>, WORKGROUP>;

// Adds the 64 invocations' partial sums; invocation 0 gets the total.
fn reduce(t: u32, mine: vec4<f32>) -> vec4<f32> {
    partial[t] = mine;
    for (var stride = WORKGROUP / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (t < stride) {
            partial[t] += partial[t + stride];
        }
    }
    workgroupBarrier();
    return partial[0];
}

@compute @workgroup_size(64)
fn linear(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let blocks = (p.out_len + OUTPUTS - 1u) / OUTPUTS;
    let block = flat_workgroup(wg, groups);
    if (block >= p.batch * blocks) {
        return;
    }
    let n = block / blocks;
    let co0 = (block % blocks) * OUTPUTS;
    // Each output's weight row and input range; outputs past the end get an
    // empty range. The four may belong to different groups.
    var rows = vec4<u32>(0u);
    var wi = vec4<u32>(0u);
    var xi = vec4<u32>(0u);
    for (var r = 0u; r < OUTPUTS; r++) {
        let co = co0 + r;
        if (co < p.out_len) {
            let j = co / p.og;
            let o = co % p.og;
            let count = select(p.cg, (j + 1u) * p.cg, p.connectivity == 1u);
            var start = j * p.og * p.cg;
            if (p.connectivity == 1u) {
                start = p.og * p.cg * (j * (j + 1u) / 2u);
            }
            rows[r] = count;
            wi[r] = start + o * count;
            xi[r] = n * p.in_len + select(0u, j * p.cg, p.connectivity == 0u);
        }
    }
    let longest = max(max(rows.x, rows.y), max(rows.z, rows.w));
    var acc = vec4<f32>(0.0);
    for (var i = t; i < longest; i += WORKGROUP) {
        for (var r = 0u; r < OUTPUTS; r++) {
            if (i < rows[r]) {
                acc[r] += f32(w[wi[r] + i]) * x[xi[r] + i];
            }
        }
    }
    let total = reduce(t, acc);
    if (t < OUTPUTS && co0 + t < p.out_len) {
        var v = total[t];
        if (p.has_bias != 0u) {
            v += bias[co0 + t];
        }
        if (p.relu != 0u) {
            v = max(v, 0.0);
        }
        y[n * p.out_len + co0 + t] = v;
    }
}

// logits = Σ_{j<k} W_j·h_j + b_k, weights [G, classes, F/G], bias [G, classes].
// One workgroup per (item, class).
@compute @workgroup_size(64)
fn head(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let index = flat_workgroup(wg, groups);
    if (index >= p.batch * p.classes) {
        return;
    }
    let n = index / p.classes;
    let c = index % p.classes;
    let fg = p.og;
    var acc = 0.0;
    for (var f = t; f < p.k * fg; f += WORKGROUP) {
        let j = f / fg;
        acc += f32(w[(j * p.classes + c) * fg + f % fg]) * x[n * p.in_len + f];
    }
    let total = reduce(t, vec4<f32>(acc, 0.0, 0.0, 0.0));
    if (t == 0u) {
        y[index] = total.x + bias[(p.k - 1u) * p.classes + c];
    }
}
