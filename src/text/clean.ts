// OpenCLIP's text cleaning for the 'lower' mode that every CoCa checkpoint uses:
//   whitespace_clean(basic_clean(text)).lower()
// basic_clean = ftfy.fix_text, html.unescape twice, str.strip(); whitespace_clean collapses runs of
// regex `\s` into one space and strips again.

import { fixText } from './fix-text';
import { pythonHtmlUnescape } from './html-unescape';

/** The `regex` module's `\s` for str patterns: Unicode White_Space (no U+FEFF, unlike JavaScript's). */
export const PYTHON_WHITESPACE_CLASS = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const WHITESPACE_RUN = new RegExp(`[${PYTHON_WHITESPACE_CLASS}]+`, 'g');
// str.strip() also counts U+001C–U+001F as space. One character at a time: a regex anchored at the end
// (/\s+$/) retries from every space of a long inner run, which is quadratic.
const STRIP_CHAR = new RegExp(`[${PYTHON_WHITESPACE_CLASS}\\x1c-\\x1f]`);

/** Python's `str.strip()` with no argument. */
export function pythonStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && STRIP_CHAR.test(text[start]!)) start++;
  while (end > start && STRIP_CHAR.test(text[end - 1]!)) end--;
  return text.slice(start, end);
}

/** OpenCLIP's `_clean_lower(text)`: the string its tokenizer splits into words. */
export function cleanText(text: string): string {
  const unescaped = pythonStrip(pythonHtmlUnescape(pythonHtmlUnescape(fixText(text))));
  return pythonStrip(unescaped.replace(WHITESPACE_RUN, ' ')).toLowerCase();
}
