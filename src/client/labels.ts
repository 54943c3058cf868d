// Label lists and the zero-shot template: the similarity widget, the demo and the photo library's exports.

export { DEFAULT_TEMPLATE, labelTexts } from '../options';

/** "cat, dog, car" → ["cat", "dog", "car"]; blanks dropped. */
export function parseLabelList(value: string | null): string[] {
  return (value ?? '')
    .split(',')
    .map((label) => label.trim())
    .filter((label) => label.length > 0);
}
