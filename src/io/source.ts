// Byte sources: random access to a model file without ever holding it whole. Checkpoint readers ask for
// the header first and then for each tensor's range, so a 1 GB .bin costs only what is actually read.

/** Random-access bytes of one file. */
export interface ByteSource {
  /** Total length in bytes. */
  readonly size: number;
  /** A name for messages (file name or URL). */
  readonly name: string;
  /**
   * Reads `length` bytes at `offset` into a new array the caller owns (it may be transferred or kept).
   * Throws RangeError when the range is not inside [0, size): readers check ranges against `size` first
   * and report a format error themselves, so reaching this is a programming error.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases an open file handle, where there is one. */
  close?(): Promise<void>;
}

/** Throws RangeError unless [offset, offset + length) lies inside a source of `size` bytes. */
export function checkReadRange(source: { size: number; name: string }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > source.size) {
    throw new RangeError(`read of ${length} bytes at ${offset} is outside ${source.name} (${source.size} bytes)`);
  }
}

/** A file that is already in memory (tests, small files, a drag-and-dropped file read whole). */
export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly name = 'memory',
  ) {
    this.size = bytes.byteLength;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkReadRange(this, offset, length);
    return this.bytes.slice(offset, offset + length);
  }
}

/** A Blob or File (a file picked or dropped in the browser; `fs.openAsBlob` in Node). Slices are lazy. */
export class BlobSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  constructor(
    private readonly blob: Blob,
    name?: string,
  ) {
    this.size = blob.size;
    this.name = name ?? (typeof File !== 'undefined' && blob instanceof File ? blob.name : 'blob');
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkReadRange(this, offset, length);
    return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
  }
}
