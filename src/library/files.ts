// Which files of a folder are photos, and their order: shared by the app's pickers and the CLI's folder walk.

/** Extensions of the image formats browsers decode (SVG is left out: it is a drawing, not a photo). */
export const IMAGE_EXTENSIONS: readonly string[] = ['jpg', 'jpeg', 'jfif', 'png', 'webp', 'gif', 'bmp', 'avif'];

/** By MIME type when there is one, else by extension (folder picks often carry no type for some formats). */
export function isImageFile(name: string, type = ''): boolean {
  if (type) return type.startsWith('image/') && type !== 'image/svg+xml';
  const dot = name.lastIndexOf('.');
  return dot >= 0 && IMAGE_EXTENSIONS.includes(name.slice(dot + 1).toLowerCase());
}

/** Sorts by path, comparing UTF-16 code units: the same order in every browser, locale and in Node. */
export function byPath<T extends { path: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
