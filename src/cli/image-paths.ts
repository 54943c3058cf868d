// The images a command works on: PATH arguments that are files are taken as given (in the order given);
// folders are walked recursively and their image files (by extension, as the app's folder picker selects
// them: src/library/files.ts) are taken sorted by path. Links are followed, but each real folder is walked
// once and each real file taken once (under the first path that reached it), so link loops end.
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import { ImageDecodeError } from '../errors';
import { byPath, isImageFile } from '../library/files';

export interface ImageList {
  /** Image paths, each real file once. */
  images: string[];
  /** Folders inside the walk that could not be read (permissions): reported, and the walk goes on. */
  unreadable: Error[];
}

/** Every image under `paths`; a path that does not exist is an ImageDecodeError before anything else is done. */
export async function listImages(paths: readonly string[]): Promise<ImageList> {
  const seenFiles = new Set<string>();
  const seenFolders = new Set<string>();
  const images: string[] = [];
  const unreadable: Error[] = [];
  const take = async (path: string): Promise<void> => {
    const real = await realpath(path).catch(() => path);
    if (seenFiles.has(real)) return;
    seenFiles.add(real);
    images.push(path);
  };
  for (const given of paths) {
    const path = normalize(given);
    const info = await stat(path).catch(() => null);
    if (!info) throw new ImageDecodeError(`${given}: no such file or folder`);
    if (!info.isDirectory()) {
      await take(path);
      continue;
    }
    const found: { path: string }[] = [];
    await walk(path, seenFolders, found, unreadable);
    for (const { path: file } of byPath(found)) await take(file);
  }
  return { images, unreadable };
}

async function walk(folder: string, seenFolders: Set<string>, found: { path: string }[], unreadable: Error[]): Promise<void> {
  const real = await realpath(folder);
  if (seenFolders.has(real)) return;
  seenFolders.add(real);
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    unreadable.push(new ImageDecodeError(`${folder}: the folder cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); its images were left out`));
    return;
  }
  for (const entry of entries) {
    const path = join(folder, entry.name);
    // A link is what it points to; a broken link to an "image" is kept, so that it is reported as missing.
    const target = entry.isSymbolicLink() ? await stat(path).catch(() => null) : entry;
    if (target?.isDirectory()) await walk(path, seenFolders, found, unreadable);
    else if ((target === null || target.isFile()) && isImageFile(entry.name)) found.push({ path });
  }
}
