// Node: a directory as a model folder. Weight files are read with positioned reads on one open handle each
// (nothing held in memory); small files are read whole.
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { LocalFile, LocalFolder } from './hub';
import { FileSource } from './source-node';

/** The directory at `path` (resolved to an absolute path, which names it in the cache id and messages). */
export function directoryFolder(path: string): LocalFolder {
  const dir = resolve(path);
  return {
    name: dir,
    file: async (name) => {
      const file = join(dir, name);
      const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null;
        throw error;
      });
      if (!info?.isFile()) return null;
      return nodeFile(file, name, info.size, info.mtimeMs);
    },
  };
}

function nodeFile(path: string, name: string, size: number, lastModified: number): LocalFile {
  return {
    name,
    size,
    lastModified,
    open: async () => Object.assign(await FileSource.open(path), { identity: { name, size, etag: `mtime:${lastModified}` } }),
    bytes: async () => new Uint8Array(await readFile(path)),
  };
}
