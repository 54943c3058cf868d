// The mask modes of the attention kernels (params.maskMode, a uniform, so one pipeline serves all);
// a query's absolute position is params.queryPos0 + its row.
//   0 none
//   1 causal: key j > position is blocked
//   2 CoCa text-tower mask: causal, and the class-token row (position keys − 1) also blocks key j ≥ 1
//     when token j − 1 is padding (0); tokens are u32 (or i32) in aux
//   3 explicit additive f32 mask [queries, keys] in aux; values ≤ −1e30 (−∞ included) block the key
// Expects params.maskMode and params.keys.
const MASK_CAUSAL: u32 = 1u;
const MASK_COCA_CLS: u32 = 2u;
const MASK_EXPLICIT: u32 = 3u;
/** A blocked key's score: finite (WGSL may assume no infinities), below any real score. */
const BLOCKED: f32 = -3.0e38;
/** Explicit mask values at or below this block the key (−∞ and float32's most negative value do). */
const BLOCKING_MASK: f32 = -1.0e30;

fn isExplicitlyBlocked(bits: u32) -> bool {
  // Checked on the bits too, in case the compiler assumes comparisons never see −∞.
  return bits == 0xff800000u || bitcast<f32>(bits) <= BLOCKING_MASK;
}

/** The key count row `position` may attend to under the causal modes (keys beyond are blocked). */
fn visibleKeys(position: u32) -> u32 {
  if (params.maskMode == MASK_CAUSAL || params.maskMode == MASK_COCA_CLS) {
    return min(params.keys, position + 1u);
  }
  return params.keys;
}
