// HTML character references decoded the way Python does it, because OpenCLIP cleans text with
// Python's html.unescape (twice) and ftfy's unescape_html. The named-entity table and the HTML5
// longest-prefix rule come from the `entities` package; the numeric rules below are Python's own,
// which differ from the HTML5 spec (Python drops control and non-character code points).

import { decodeHTML, decodeHTMLStrict } from 'entities';
import { c1AsWindows1252 } from './windows-1252';

// Python's html._charref: a numeric reference, or up to 32 characters of a possible name.
const PYTHON_CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

// ftfy's HTML_ENTITY_RE: only references closed by a semicolon.
const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

/** Python's html._invalid_codepoints: references to these decode to nothing. */
function isInvalidCodePoint(code: number): boolean {
  return (
    (code >= 0x1 && code <= 0x8) ||
    code === 0xb ||
    (code >= 0xe && code <= 0x1f) ||
    (code >= 0x7f && code <= 0x9f) ||
    (code >= 0xfdd0 && code <= 0xfdef) ||
    (code & 0xfffe) === 0xfffe
  );
}

/** Python's html._replace_charref for a numeric reference body such as "#233;" or "#xE9". */
function decodeNumericReference(body: string): string {
  const digits = body.endsWith(';') ? body.slice(1, -1) : body.slice(1);
  const code = digits[0] === 'x' || digits[0] === 'X' ? parseInt(digits.slice(1), 16) : parseInt(digits, 10);
  if (code === 0x0) return '\ufffd';
  if (code === 0xd) return '\r';
  if (code >= 0x80 && code <= 0x9f) return c1AsWindows1252(code);
  if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return '\ufffd';
  if (isInvalidCodePoint(code)) return '';
  return String.fromCodePoint(code);
}

function replacePythonCharref(_match: string, body: string): string {
  if (body[0] === '#') return decodeNumericReference(body);
  // Python looks up the whole body, then its longest prefix (≥ 2 characters) among the HTML5 names,
  // keeping the rest as text: the same rule as HTML5's text-content decoding, which decodeHTML runs
  // on a string holding this one reference.
  return decodeHTML(`&${body}`);
}

/** Python's `html.unescape(text)`. */
export function pythonHtmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(PYTHON_CHARREF, replacePythonCharref);
}

/** The character(s) of a semicolon-terminated named reference such as "&eacute;", if it is one. */
function namedEntity(reference: string): string | undefined {
  const decoded = decodeHTMLStrict(reference);
  return decoded === reference ? undefined : decoded;
}

/**
 * ftfy's table lookup: HTML5 names ending in ";", plus upper-cased forms of all-lowercase names
 * ("&EACUTE;" → "É") where the upper-cased form means nothing to html.unescape.
 */
function ftfyEntity(reference: string): string | undefined {
  const exact = namedEntity(reference);
  if (exact !== undefined) return exact;
  if (reference !== reference.toUpperCase()) return undefined;
  const lowercase = namedEntity(reference.toLowerCase());
  if (lowercase === undefined || pythonHtmlUnescape(reference) !== reference) return undefined;
  return lowercase.toUpperCase();
}

function replaceFtfyEntity(reference: string): string {
  if (reference.startsWith('&#')) {
    // Numeric: accepted only when Python decodes the whole reference, semicolon included.
    const decoded = pythonHtmlUnescape(reference);
    return decoded.includes(';') ? reference : decoded;
  }
  return ftfyEntity(reference) ?? reference;
}

/** ftfy's `unescape_html` fixer: one pass over semicolon-terminated references. */
export function ftfyUnescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(FTFY_ENTITY, replaceFtfyEntity);
}
