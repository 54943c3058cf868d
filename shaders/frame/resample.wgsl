// A camera frame → the model's pixels, as Pillow's 8-bit resize + center crop (or pad) + normalize compute them
// (src/image/preprocess.ts), in two passes over integer taps the host derives from Pillow's rules
// (src/image/resample.ts axisTaps):
//   horizontal: for each source row the vertical taps read, the crop window's columns, 8-bit RGB per pixel;
//   VERTICAL:   for each of the S×S outputs, the window's rows (or the fill outside it), then per channel the
//               normalized value of its 8-bit level from a 3×256 table — so the floats are the CPU path's own.
// Each output is clip8((2^(P−1) + Σ value·weight) >> P) in i32, exactly Pillow's ImagingResample (22-bit
// weights, P = params.fractionBits; the sums stay below 2^31 as in Pillow, whose accumulator is an int too).
// Texels: RGBA8 words, R in the low byte (an rgba8unorm texture copied to a buffer; alpha ignored, as the CPU
// path takes RGBA pixels as RGB). Rows scratch: one word per pixel, R | G << 8 | B << 16.
// Taps: one i32 array; per axis first[n], count[n], then weights[n · taps] (params.*At give the offsets).
// Bindings (generated from src/kernels/frame/resample.ts):
//   horizontal: params, texels (u32), taps (i32), rows (u32, written);
//   VERTICAL:   params, rows (u32), taps (i32), normalization (f32), out (f32, written).

override WG: u32 = 64u;

fn levels(word: u32) -> vec3<i32> {
  return vec3<i32>(i32(word & 0xffu), i32((word >> 8u) & 0xffu), i32((word >> 16u) & 0xffu));
}

/** Pillow's clip8: the integer part (arithmetic shift), clamped to 0..255. */
fn clip8(acc: vec3<i32>) -> vec3<u32> {
  return vec3<u32>(clamp(acc >> vec3<u32>(params.fractionBits), vec3<i32>(0), vec3<i32>(255)));
}

fn rounding_half() -> vec3<i32> {
  return vec3<i32>(1 << (params.fractionBits - 1u));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = id.x + id.y * groups.x * WG;
#if VERTICAL
  let S = params.size;
  if (i >= S * S) { return; }
  let oy = i / S;
  let ox = i % S;
  var level = vec3<u32>(params.fill);
  if (ox >= params.padLeft && ox < params.padLeft + params.windowWidth && oy >= params.padTop && oy < params.padTop + params.windowHeight) {
    let x = ox - params.padLeft;
    let y = oy - params.padTop;
    let count = u32(taps[params.countAt + y]);
    let weights = params.weightsAt + y * params.taps;
    var at = (u32(taps[params.firstAt + y]) - params.rowOffset) * params.windowWidth + x;
    var acc = rounding_half();
    for (var k = 0u; k < count; k++) {
      acc += levels(rows[at]) * taps[weights + k];
      at += params.windowWidth;
    }
    level = clip8(acc);
  }
  let plane = S * S;
  out[i] = normalization[level.x];
  out[plane + i] = normalization[256u + level.y];
  out[2u * plane + i] = normalization[512u + level.z];
#else
  if (i >= params.rows * params.windowWidth) { return; }
  let r = i / params.windowWidth;
  let x = i % params.windowWidth;
  let count = u32(taps[params.countAt + x]);
  let weights = params.weightsAt + x * params.taps;
  let at = (params.rowOffset + r) * params.stride + u32(taps[params.firstAt + x]);
  var acc = rounding_half();
  for (var k = 0u; k < count; k++) {
    acc += levels(texels[at + k]) * taps[weights + k];
  }
  let v = clip8(acc);
  rows[i] = v.x | (v.y << 8u) | (v.z << 16u);
#endif
}
