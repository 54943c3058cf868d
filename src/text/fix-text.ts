// ftfy.fix_text with its default settings, as OpenCLIP runs it before tokenizing — every fixer except
// mojibake repair (fix_encoding and its helpers restore_byte_a0, replace_lossy_sequences,
// decode_inconsistent_utf8), which guesses at wrongly decoded bytes from statistics and is out of
// scope: text that is already well-formed Unicode passes through it unchanged.
// Source of the rules: ftfy 6.3 (ftfy/__init__.py fix_text and fix_and_explain, ftfy/fixes.py,
// ftfy/chardata.py).

import { ftfyUnescapeHtml } from './html-unescape';
import { c1AsWindows1252 } from './windows-1252';

const C1_CONTROL = /[\x80-\x9f]/g;
const DOUBLE_QUOTES = /[\u201c-\u201f]/g;
const SINGLE_QUOTES = /[\u02bc\u2018-\u201b]/g;
const LINE_BREAKS = /\r\n|[\r\u2028\u2029\x85]/g;
const LONE_SURROGATE = /[\ud800-\udfff]/gu;
const TERMINAL_ESCAPE = /\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu;
// ASCII controls other than the whitespace ones, deprecated Arabic controls, interlinear annotation
// marks, the object replacement character and the byte order mark.
const CONTROL_CHARS = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
// U+3000 and the halfwidth/fullwidth forms block, replaced by their NFKC forms.
const WIDTH_FORMS = /[\u3000\uff01-\uffef]/g;
const LIGATURE_CHARS = /[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g;

const LIGATURES: Readonly<Record<string, string>> = {
  '\u0132': 'IJ',
  '\u0133': 'ij',
  '\u0149': '\u02bcn',
  '\u01f1': 'DZ',
  '\u01f2': 'Dz',
  '\u01f3': 'dz',
  '\u01c4': 'D\u017d',
  '\u01c5': 'D\u017e',
  '\u01c6': 'd\u017e',
  '\u01c7': 'LJ',
  '\u01c8': 'Lj',
  '\u01c9': 'lj',
  '\u01ca': 'NJ',
  '\u01cb': 'Nj',
  '\u01cc': 'nj',
  '\ufb00': 'ff',
  '\ufb01': 'fi',
  '\ufb02': 'fl',
  '\ufb03': 'ffi',
  '\ufb04': 'ffl',
  '\ufb05': '\u017ft',
  '\ufb06': 'st',
};

function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURE_CHARS, (ligature) => LIGATURES[ligature]!);
}

function fixCharacterWidth(text: string): string {
  return text.replace(WIDTH_FORMS, (form) => (form === '\u3000' ? ' ' : form.normalize('NFKC')));
}

function uncurlQuotes(text: string): string {
  return text.replace(DOUBLE_QUOTES, '"').replace(SINGLE_QUOTES, "'");
}

/** One round of ftfy's fixers, in ftfy's order. */
function fixOnce(text: string, unescapeHtml: boolean): string {
  let fixed = unescapeHtml ? ftfyUnescapeHtml(text) : text;
  fixed = fixed.replace(C1_CONTROL, (control) => c1AsWindows1252(control.charCodeAt(0)));
  fixed = fixLatinLigatures(fixed);
  fixed = fixCharacterWidth(fixed);
  fixed = uncurlQuotes(fixed);
  fixed = fixed.replace(LINE_BREAKS, '\n');
  fixed = fixed.replace(LONE_SURROGATE, '\ufffd');
  fixed = fixed.replace(TERMINAL_ESCAPE, '');
  fixed = fixed.replace(CONTROL_CHARS, '');
  return fixed.normalize('NFC');
}

/** ftfy's fix_and_explain on one segment: repeat the fixers until the text stops changing. */
function fixSegment(segment: string, unescapeHtml: boolean): string {
  let text = segment;
  for (;;) {
    const fixed = fixOnce(text, unescapeHtml);
    if (fixed === text) return fixed;
    text = fixed;
  }
}

/**
 * `ftfy.fix_text(text)` without mojibake repair. ftfy fixes each line on its own, and stops decoding
 * HTML entities from the first line that contains "<" onwards (it may be real HTML).
 */
export function fixText(text: string): string {
  let unescapeHtml = true;
  let fixed = '';
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline + 1;
    const segment = text.slice(start, end);
    if (segment.includes('<')) unescapeHtml = false;
    fixed += fixSegment(segment, unescapeHtml);
    start = end;
  }
  return fixed;
}
