// Label lists and the zero-shot template: the similarity widget, the demo and the photo library's exports.

export const DEFAULT_TEMPLATE = 'a photo of a {label}';

/** "cat, dog, car" → ["cat", "dog", "car"]; blanks dropped. */
export function parseLabelList(value: string | null): string[] {
  return (value ?? '')
    .split(',')
    .map((label) => label.trim())
    .filter((label) => label.length > 0);
}

/** Each label through the template; a template without {label} leaves the labels as they are. */
export function labelTexts(labels: readonly string[], template: string): string[] {
  return labels.map((label) => (template.includes('{label}') ? template.replaceAll('{label}', label) : label));
}
