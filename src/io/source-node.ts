// Node-only ByteSource over a local file: positioned reads on one open handle, nothing held in memory.

import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { checkReadRange, type ByteSource } from './source';

export class FileSource implements ByteSource {
  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly name: string,
  ) {}

  static async open(path: string): Promise<FileSource> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      return new FileSource(handle, size, basename(path));
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkReadRange(this, offset, length);
    const bytes = new Uint8Array(length);
    // A positioned read may return fewer bytes than asked (large reads, some file systems): loop until full.
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(bytes, filled, length - filled, offset + filled);
      if (bytesRead === 0) throw new RangeError(`${this.name} shrank while being read (ended at ${offset + filled})`);
      filled += bytesRead;
    }
    return bytes;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Opens a local file as a ByteSource; call `close()` when done. */
export function openFileSource(path: string): Promise<FileSource> {
  return FileSource.open(path);
}
