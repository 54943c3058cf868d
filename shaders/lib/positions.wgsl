// Row logic shared by the kernels that write token rows (embedding, patch embedding): the positional
// table's row added to a value. POS: the table is bound as `pos` (read through the generated pos_at).
fn with_position(value: f32, row: u32, column: u32, width: u32) -> f32 {
#if POS
  return value + pos_at(row * width + column);
#else
  return value;
#endif
}
