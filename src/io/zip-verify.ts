// CRC-32 checks of zip entries, done on the bytes as they are read. A PyTorch .bin is read tensor by tensor,
// often in ranges (the loader converts a 100 MB embedding chunk by chunk), so an entry's CRC can only be
// known once all of its bytes have gone past. CrcCheckedSource wraps the file: every read that touches a
// storage entry extends that entry's running CRC; bytes a reader skips are fetched to close the gap, the
// entry's unused tail is fetched once its last used byte has been read, and at the entry's end the CRC is
// compared with the central directory's. A mismatch fails that read, and every later read of the entry,
// with CheckpointFormatError 'crc-mismatch': a corrupt tensor can make a load fail, never succeed.
// Sequential reads (what the loader does) cost nothing extra; a read that starts mid-entry (a resumed
// download) re-reads the entry's earlier bytes once, in bounded pieces.

import { CheckpointFormatError } from '../errors';
import { crc32 } from './cache-checksum';
import type { ByteSource } from './source';

/** A stored zip entry whose data is checked as it is read. */
export interface CheckedEntry {
  name: string;
  /** Absolute offset of the entry's first data byte. */
  dataOffset: number;
  size: number;
  /** The CRC-32 the central directory gives. */
  crc32: number;
  /** Absolute end of the last byte any tensor uses; bytes after it are read only to finish the check. */
  usedEnd: number;
}

/** Bytes read only for the check (skipped or unused ones) are fetched in pieces of this size. */
const FILL_PIECE_BYTES = 4 * 1024 * 1024;

function crcMismatch(sourceName: string, name: string, expected: number, actual: number): CheckpointFormatError {
  const hex = (value: number): string => `0x${value.toString(16).padStart(8, '0')}`;
  return new CheckpointFormatError(
    'crc-mismatch',
    `${sourceName}: zip entry ${name} fails its CRC-32 check (the directory says ${hex(expected)}, the data gives ` +
      `${hex(actual)}): the file is corrupt; download it again`,
  );
}

/** Checks an entry read whole (the pickle, the byte-order marker). */
export function checkEntryCrc(sourceName: string, entry: { name: string; crc32: number }, bytes: Uint8Array): void {
  const actual = crc32(bytes);
  if (actual !== entry.crc32) throw crcMismatch(sourceName, entry.name, entry.crc32, actual);
}

interface EntryState {
  readonly entry: CheckedEntry;
  /** Absolute offset up to which `crc` covers the entry. */
  hashed: number;
  crc: number;
  verified: boolean;
  failure: CheckpointFormatError | null;
  /** Updates of one entry run one after another, in the order the reads were made. */
  queue: Promise<void>;
}

export class CrcCheckedSource implements ByteSource {
  /** Sorted by offset; entries never overlap (the zip reader checks that). */
  private readonly states: EntryState[];

  constructor(
    private readonly inner: ByteSource,
    entries: readonly CheckedEntry[],
  ) {
    this.states = entries
      .filter((entry) => entry.size > 0)
      .sort((a, b) => a.dataOffset - b.dataOffset)
      .map((entry) => ({ entry, hashed: entry.dataOffset, crc: 0, verified: false, failure: null, queue: Promise.resolve() }));
  }

  get size(): number {
    return this.inner.size;
  }

  get name(): string {
    return this.inner.name;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const bytes = await this.inner.read(offset, length);
    const end = offset + length;
    for (let i = this.firstEndingAfter(offset); i < this.states.length && this.states[i]!.entry.dataOffset < end; i++) {
      const state = this.states[i]!;
      if (state.verified) continue;
      const update = state.queue.then(() => this.advance(state, offset, bytes));
      state.queue = update.catch(() => undefined);
      await update;
    }
    return bytes;
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }

  /** Index of the first entry whose data ends after `offset`. */
  private firstEndingAfter(offset: number): number {
    let lo = 0;
    let hi = this.states.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const { dataOffset, size } = this.states[mid]!.entry;
      if (dataOffset + size <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Extends the entry's CRC over the part of `bytes` (read at `readStart`) that lies in it. */
  private async advance(state: EntryState, readStart: number, bytes: Uint8Array): Promise<void> {
    if (state.failure) throw state.failure;
    if (state.verified) return;
    const { entry } = state;
    const entryEnd = entry.dataOffset + entry.size;
    const from = Math.max(readStart, entry.dataOffset);
    const to = Math.min(readStart + bytes.byteLength, entryEnd);
    if (to <= from) return; // an empty read: nothing of the entry went past
    if (from > state.hashed) await this.fill(state, from);
    if (to > state.hashed) {
      state.crc = crc32(bytes.subarray(state.hashed - readStart, to - readStart), state.crc);
      state.hashed = to;
    }
    if (state.hashed < entry.usedEnd) return;
    await this.fill(state, entryEnd);
    if (state.crc !== entry.crc32) {
      state.failure = crcMismatch(this.inner.name, entry.name, entry.crc32, state.crc);
      throw state.failure;
    }
    state.verified = true;
  }

  /** Hashes the entry's bytes from where the CRC stands up to `until`, fetching them in bounded pieces. */
  private async fill(state: EntryState, until: number): Promise<void> {
    while (state.hashed < until) {
      const length = Math.min(FILL_PIECE_BYTES, until - state.hashed);
      state.crc = crc32(await this.inner.read(state.hashed, length), state.crc);
      state.hashed += length;
    }
  }
}
