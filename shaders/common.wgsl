// Shared by every shader: `W` (the weight element type) is declared by the
// host before this file, `alias W = f32;` or `enable f16; alias W = f16;`,
// so one source serves both weight precisions. Activations are always f32.

const WORKGROUP: u32 = 64u;

// Flat index of this invocation when a 1-D range was dispatched as a 2-D
// grid of workgroups (one grid dimension holds at most 65535).
fn flat_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.y * groups.x * WORKGROUP + gid.x;
}

// Flat index of this workgroup when a 1-D range of workgroups was dispatched
// as a 2-D grid.
fn flat_workgroup(wg: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wg.y * groups.x + wg.x;
}
