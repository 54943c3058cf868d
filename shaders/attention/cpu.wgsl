// Fused multi-head attention for CPU adapters (llvmpipe, SwiftShader), same contract as attention/gpu.wgsl:
//   out[b, i, h·dh + d] = Σ_j softmax_j(q_i·k_j·scale + mask(i, j)) · v_j[h·dh + d]
// with the same strided q, k, v, out and aux and the same mask modes (a uniform). No workgroup memory,
// no barrier: each lane runs whole softmaxes on its own.
//
// Why: a CPU driver runs a workgroup's invocations as SIMD lanes; workgroup memory and barriers are
// emulated (a barrier is a coroutine switch of every lane group), and attention/gpu.wgsl's phases are joined
// by a dozen barriers and tree reductions. What costs here is memory access whose address varies by
// lane, which is every access indexed by a loop counter: the driver loads it element by element, lane by
// lane, with a bounds check each (storage) or as a gather (private arrays). So the loops are arranged
// for reuse: a lane takes R query rows of one head (each K and V vec4 it loads serves R rows) and keys
// in steps of B (each query and accumulator vec4 it touches serves B keys); R and B are small constants,
// so those loops unroll and their values live in registers. The loops over the head width and over the
// keys are not unrolled: LLVM compile time on llvmpipe grows with the unrolled loads (a version with the
// head width unrolled took 2–12 s to compile at width 64; this one about 0.5 s).
//
// The online softmax itself is lib/attend_cpu.wgsl.
//
// Entry points: 'rows' (LANES·R query rows of one head per workgroup) and 'heads' (fewer query rows than
// lanes, e.g. a decoding step: lanes take the heads of a row, one row each).
// Defines: MAX_HEAD_DIM, LANES, ROWS_PER_LANE (R), KEY_BLOCK (B), VEC4 (q, k, v bound as vec4 arrays:
// the head width and every offset and stride of q, k and v are multiples of 4; otherwise scalars).
// Bindings (generated from src/kernels/attention/cpu.ts): params, q, k, v (vec4s with VEC4, else f32),
// aux (u32), out. Mask modes: lib/attention_mask.wgsl.
#include lib/attend_cpu

// Elements 4c .. 4c + 3 of the head starting at element `base`. Scalar reads: elements past the head
// width dh are 0, whatever lies there (e.g. the NaN rows of a KV cache past the valid keys).
#if VEC4
fn loadQ(base: u32, c: u32, dh: u32) -> vec4<f32> { return q[base / 4u + c]; }
fn loadK(base: u32, c: u32, dh: u32) -> vec4<f32> { return k[base / 4u + c]; }
fn loadV(base: u32, c: u32, dh: u32) -> vec4<f32> { return v[base / 4u + c]; }
#else
fn inHead(c: u32, dh: u32) -> vec4<bool> {
  return vec4<u32>(4u * c) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(dh);
}
fn loadQ(base: u32, c: u32, dh: u32) -> vec4<f32> {
  let i = base + 4u * c;
  return select(vec4<f32>(0.0), vec4<f32>(q[i], q[i + 1u], q[i + 2u], q[i + 3u]), inHead(c, dh));
}
fn loadK(base: u32, c: u32, dh: u32) -> vec4<f32> {
  let i = base + 4u * c;
  return select(vec4<f32>(0.0), vec4<f32>(k[i], k[i + 1u], k[i + 2u], k[i + 3u]), inHead(c, dh));
}
fn loadV(base: u32, c: u32, dh: u32) -> vec4<f32> {
  let i = base + 4u * c;
  return select(vec4<f32>(0.0), vec4<f32>(v[i], v[i + 1u], v[i + 2u], v[i + 3u]), inHead(c, dh));
}
#endif

// LANES·R query rows of one head: workgroup (row group, head, batch item).
@compute @workgroup_size(LANES)
fn rows(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) lane: u32) {
  attend_row_group(group.z, group.y, group.x * LANES * R, lane);
}

// Fewer rows than lanes (a decoding step): invocation i is (batch item, query row, head), heads fastest,
// over a 1-D (or 2-D, see grid1d) grid, so lanes are not duplicates.
@compute @workgroup_size(LANES)
fn heads(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = id.x + id.y * groups.x * LANES;
  if (i >= params.queries * params.heads * params.batch) { return; }
  let head = i % params.heads;
  let row = (i / params.heads) % params.queries;
  var rowOf: array<u32, R>;
  rowOf[0] = row;
  var store: array<bool, R>;
  store[0] = true;
  attend(i / (params.heads * params.queries), head, rowOf, 1u, store, visibleKeys(params.queryPos0 + row));
}
