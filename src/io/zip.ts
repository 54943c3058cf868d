// Just enough ZIP to read PyTorch's archives: the central directory, parsed from the end (with ZIP64
// records, which PyTorch always writes), and the local headers that say where each entry's data starts.
// Only stored (uncompressed) entries can be read in place; PyTorch never compresses.

import { CheckpointFormatError, TruncatedFileError } from '../errors';
import type { ByteSource } from './source';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate, ... */
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export interface ZipDirectory {
  entries: Map<string, ZipEntry>;
  /** Where the central directory starts: every entry's data must end before it. */
  directoryOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_BYTES = 22;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_EOCD_BYTES = 56;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const MAX_COMMENT_BYTES = 0xffff;
/** A state dict of a few thousand tensors has a directory of a few hundred KiB; more is not a checkpoint. */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
/** PyTorch pads local headers with an extra field to align data to 64 bytes; fetch this much extra per header. */
const LOCAL_EXTRA_GUESS = 128;
/** Local headers closer than this are fetched in one request: fewer round trips, little wasted transfer. */
const MAX_COALESCED_SPAN = 64 * 1024;
const MAX_PARALLEL_READS = 6;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function u64(data: DataView, offset: number, what: string): number {
  const value = data.getUint32(offset, true) + data.getUint32(offset + 4, true) * 2 ** 32;
  if (!Number.isSafeInteger(value)) throw new CheckpointFormatError('bad-zip', `zip ${what} ${value} is out of range`);
  return value;
}

export async function readZipDirectory(source: ByteSource): Promise<ZipDirectory> {
  const tailLength = Math.min(source.size, EOCD_BYTES + MAX_COMMENT_BYTES);
  const tailStart = source.size - tailLength;
  const tail = await source.read(tailStart, tailLength);
  const eocdInTail = findEndOfCentralDirectory(tail);
  if (eocdInTail < 0) throw await missingEndRecord(source);
  const eocd = view(tail.subarray(eocdInTail));
  const eocdOffset = tailStart + eocdInTail;

  let entryCount = eocd.getUint16(10, true);
  let directorySize = eocd.getUint32(12, true);
  let directoryOffset = eocd.getUint32(16, true);
  let directoryEnd = eocdOffset;

  if (eocdOffset >= ZIP64_LOCATOR_BYTES) {
    const locatorBytes =
      eocdInTail >= ZIP64_LOCATOR_BYTES
        ? tail.subarray(eocdInTail - ZIP64_LOCATOR_BYTES, eocdInTail)
        : await source.read(eocdOffset - ZIP64_LOCATOR_BYTES, ZIP64_LOCATOR_BYTES);
    const locator = view(locatorBytes);
    if (locator.getUint32(0, true) === ZIP64_LOCATOR_SIGNATURE) {
      const recordOffset = u64(locator, 8, 'ZIP64 record offset');
      if (recordOffset + ZIP64_EOCD_BYTES > eocdOffset - ZIP64_LOCATOR_BYTES) {
        throw new CheckpointFormatError('bad-zip', `${source.name}: ZIP64 end record offset ${recordOffset} is outside the file`);
      }
      const record = view(await source.read(recordOffset, ZIP64_EOCD_BYTES));
      if (record.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) {
        throw new CheckpointFormatError('bad-zip', `${source.name}: no ZIP64 end record at ${recordOffset}`);
      }
      entryCount = u64(record, 32, 'entry count');
      directorySize = u64(record, 40, 'directory size');
      directoryOffset = u64(record, 48, 'directory offset');
      directoryEnd = recordOffset;
    }
  }

  if (directorySize > MAX_DIRECTORY_BYTES || directoryOffset + directorySize > directoryEnd) {
    throw new CheckpointFormatError(
      'bad-zip',
      `${source.name}: zip central directory [${directoryOffset}, +${directorySize}) does not fit before its end record at ${directoryEnd}`,
    );
  }
  if (entryCount * CENTRAL_BYTES > directorySize) {
    throw new CheckpointFormatError('bad-zip', `${source.name}: zip claims ${entryCount} entries in a ${directorySize}-byte directory`);
  }
  const directory = await source.read(directoryOffset, directorySize);
  return { entries: parseCentralDirectory(directory, entryCount, source.name), directoryOffset };
}

/** Scans backwards for the end record whose comment length reaches exactly to the end of the file. */
function findEndOfCentralDirectory(tail: Uint8Array): number {
  const data = view(tail);
  for (let i = tail.byteLength - EOCD_BYTES; i >= 0; i--) {
    if (data.getUint32(i, true) === EOCD_SIGNATURE && i + EOCD_BYTES + data.getUint16(i + 20, true) === tail.byteLength) {
      return i;
    }
  }
  return -1;
}

async function missingEndRecord(source: ByteSource): Promise<CheckpointFormatError> {
  const start = source.size >= 4 ? view(await source.read(0, 4)).getUint32(0, true) : 0;
  if (start === LOCAL_SIGNATURE) {
    return new TruncatedFileError(
      `${source.name} starts like a zip archive but has no end-of-central-directory record: the file is truncated ` +
        `(${source.size} bytes; an interrupted download?)`,
    );
  }
  return new CheckpointFormatError('bad-zip', `${source.name} is not a zip archive (no end-of-central-directory record)`);
}

function parseCentralDirectory(directory: Uint8Array, entryCount: number, sourceName: string): Map<string, ZipEntry> {
  const data = view(directory);
  const decoder = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let index = 0; index < entryCount; index++) {
    if (at + CENTRAL_BYTES > directory.byteLength || data.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw new CheckpointFormatError('bad-zip', `${sourceName}: zip directory entry ${index} at ${at} is damaged`);
    }
    const nameLength = data.getUint16(at + 28, true);
    const extraLength = data.getUint16(at + 30, true);
    const commentLength = data.getUint16(at + 32, true);
    const end = at + CENTRAL_BYTES + nameLength + extraLength + commentLength;
    if (end > directory.byteLength) {
      throw new CheckpointFormatError('bad-zip', `${sourceName}: zip directory entry ${index} runs past the directory`);
    }
    const name = decoder.decode(directory.subarray(at + CENTRAL_BYTES, at + CENTRAL_BYTES + nameLength));
    const entry: ZipEntry = {
      name,
      flags: data.getUint16(at + 8, true),
      method: data.getUint16(at + 10, true),
      compressedSize: data.getUint32(at + 20, true),
      size: data.getUint32(at + 24, true),
      localHeaderOffset: data.getUint32(at + 42, true),
    };
    const extraStart = at + CENTRAL_BYTES + nameLength;
    applyZip64Extra(entry, view(directory.subarray(extraStart, extraStart + extraLength)), sourceName);
    entries.set(name, entry);
    at = end;
  }
  return entries;
}

/** A ZIP64 extra field (id 1) holds, in order, whichever of the 32-bit fields were saturated to 0xFFFFFFFF. */
function applyZip64Extra(entry: ZipEntry, extra: DataView, sourceName: string): void {
  let at = 0;
  while (at + 4 <= extra.byteLength) {
    const id = extra.getUint16(at, true);
    const length = extra.getUint16(at + 2, true);
    const body = at + 4;
    if (body + length > extra.byteLength) {
      throw new CheckpointFormatError('bad-zip', `${sourceName}: zip entry ${entry.name} has a damaged extra field`);
    }
    if (id === 0x0001) {
      let field = body;
      const next = (what: string): number => {
        if (field + 8 > body + length) {
          throw new CheckpointFormatError('bad-zip', `${sourceName}: zip entry ${entry.name} lacks its ZIP64 ${what}`);
        }
        const value = u64(extra, field, what);
        field += 8;
        return value;
      };
      if (entry.size === 0xffffffff) entry.size = next('size');
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = next('compressed size');
      if (entry.localHeaderOffset === 0xffffffff) entry.localHeaderOffset = next('header offset');
    }
    at = body + length;
  }
}

/** Refuses entries that cannot be read in place: compressed or encrypted. */
function checkStored(entry: ZipEntry, sourceName: string): void {
  if (entry.flags & 0x1) {
    throw new CheckpointFormatError('compressed-entry', `${sourceName}: zip entry ${entry.name} is encrypted`);
  }
  if (entry.method !== 0) {
    throw new CheckpointFormatError(
      'compressed-entry',
      `${sourceName}: zip entry ${entry.name} is compressed (method ${entry.method}); only stored entries can be ` +
        'streamed. PyTorch writes them stored: re-save the checkpoint with torch.save, or convert it to safetensors',
    );
  }
  if (entry.compressedSize !== entry.size) {
    throw new CheckpointFormatError('bad-zip', `${sourceName}: stored zip entry ${entry.name} has different stored and real sizes`);
  }
}

/**
 * Finds where each entry's data begins: after its local header, whose name and extra fields may differ in
 * length from the central directory's copy (PyTorch pads there). Nearby headers share one read.
 */
export async function locateEntryData(
  source: ByteSource,
  directory: ZipDirectory,
  entries: readonly ZipEntry[],
): Promise<Map<string, number>> {
  for (const entry of entries) {
    checkStored(entry, source.name);
    if (entry.localHeaderOffset + LOCAL_BYTES > directory.directoryOffset) {
      throw new CheckpointFormatError('bad-zip', `${source.name}: zip entry ${entry.name} has its header inside the directory`);
    }
  }
  const guessEnd = (entry: ZipEntry): number =>
    Math.min(directory.directoryOffset, entry.localHeaderOffset + LOCAL_BYTES + entry.name.length * 4 + LOCAL_EXTRA_GUESS);
  const sorted = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  const groups: ZipEntry[][] = [];
  for (const entry of sorted) {
    const group = groups[groups.length - 1];
    if (group && guessEnd(entry) - group[0]!.localHeaderOffset <= MAX_COALESCED_SPAN) group.push(entry);
    else groups.push([entry]);
  }

  const dataOffsets = new Map<string, number>();
  await forEachLimited(groups, MAX_PARALLEL_READS, async (group) => {
    const start = group[0]!.localHeaderOffset;
    const bytes = await source.read(start, guessEnd(group[group.length - 1]!) - start);
    for (const entry of group) {
      dataOffsets.set(entry.name, await dataOffsetOf(source, directory, entry, bytes, start));
    }
  });
  return dataOffsets;
}

async function dataOffsetOf(
  source: ByteSource,
  directory: ZipDirectory,
  entry: ZipEntry,
  window: Uint8Array,
  windowStart: number,
): Promise<number> {
  const at = entry.localHeaderOffset - windowStart;
  const header = view(window.subarray(at, at + LOCAL_BYTES));
  if (header.byteLength < LOCAL_BYTES || header.getUint32(0, true) !== LOCAL_SIGNATURE) {
    throw new CheckpointFormatError('bad-zip', `${source.name}: no local header for zip entry ${entry.name} at ${entry.localHeaderOffset}`);
  }
  const nameLength = header.getUint16(26, true);
  const extraLength = header.getUint16(28, true);
  const nameStart = entry.localHeaderOffset + LOCAL_BYTES;
  const nameBytes =
    at + LOCAL_BYTES + nameLength <= window.byteLength
      ? window.subarray(at + LOCAL_BYTES, at + LOCAL_BYTES + nameLength)
      : nameStart + nameLength <= directory.directoryOffset
        ? await source.read(nameStart, nameLength)
        : null;
  if (nameBytes === null || new TextDecoder().decode(nameBytes) !== entry.name) {
    throw new CheckpointFormatError('bad-zip', `${source.name}: local header of zip entry ${entry.name} names a different file`);
  }
  const dataOffset = nameStart + nameLength + extraLength;
  if (dataOffset + entry.size > directory.directoryOffset) {
    throw new CheckpointFormatError(
      'bad-zip',
      `${source.name}: zip entry ${entry.name} (${entry.size} bytes at ${dataOffset}) runs into the central directory`,
    );
  }
  return dataOffset;
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
