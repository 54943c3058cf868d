// The C1 range (0x80–0x9F) as windows-1252 reads it, with the five bytes that windows-1252 leaves
// undefined kept as themselves. Both Python's html.unescape (for &#128;…&#159;) and ftfy's
// fix_c1_controls ("sloppy-windows-1252") use exactly this table.

const C1_AS_WINDOWS_1252 =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

/** The character windows-1252 gives byte `code` (0x80 ≤ code ≤ 0x9F). */
export function c1AsWindows1252(code: number): string {
  return C1_AS_WINDOWS_1252[code - 0x80]!;
}
