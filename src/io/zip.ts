// Just enough ZIP to read PyTorch's archives: the central directory, parsed from the end (with ZIP64
// records, which PyTorch always writes), and the local headers that say where each entry's data starts.
// Only stored (uncompressed) entries can be read in place; PyTorch never compresses. Nothing is taken on
// trust: names are unique, every entry's header, data and descriptor fit before the next entry, and each
// local header must agree with the central directory (name, method, sizes, CRC, a well-formed extra field),
// so a changed extra length cannot slide a tensor. The data itself is checked against the directory's
// CRC-32 as it is read (see zip-verify.ts).

import { CheckpointFormatError, TruncatedFileError } from '../errors';
import type { ByteSource } from './source';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate, ... */
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  /** CRC-32 of the entry's (uncompressed) data, from the central directory. */
  crc32: number;
  localHeaderOffset: number;
  /**
   * Where the next entry's local header (or the central directory) starts: this entry's header, data and
   * data descriptor must all end before it.
   */
  regionEnd: number;
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
const ZIP64_EXTRA_ID = 0x0001;
/** General-purpose flag bit 3: CRC and sizes follow the data in a descriptor; the local header has zeros. */
const FLAG_DATA_DESCRIPTOR = 0x8;
const FLAG_ENCRYPTED = 0x1;
const SATURATED = 0xffffffff;
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
  const entries = parseCentralDirectory(directory, entryCount, source.name);
  setRegionEnds(entries, directoryOffset);
  return { entries, directoryOffset };
}

/** Each entry owns the bytes from its local header up to the next entry's (or the directory). */
function setRegionEnds(entries: Map<string, ZipEntry>, directoryOffset: number): void {
  const sorted = [...entries.values()].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  sorted.forEach((entry, i) => (entry.regionEnd = sorted[i + 1]?.localHeaderOffset ?? directoryOffset));
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
    if (entries.has(name)) {
      throw new CheckpointFormatError(
        'duplicate-entry',
        `${sourceName}: zip directory lists ${name} twice; which copy is meant is ambiguous, so the archive is refused`,
      );
    }
    const entry: ZipEntry = {
      name,
      flags: data.getUint16(at + 8, true),
      method: data.getUint16(at + 10, true),
      crc32: data.getUint32(at + 16, true),
      compressedSize: data.getUint32(at + 20, true),
      size: data.getUint32(at + 24, true),
      localHeaderOffset: data.getUint32(at + 42, true),
      regionEnd: 0,
    };
    const extraStart = at + CENTRAL_BYTES + nameLength;
    applyZip64Extra(entry, view(directory.subarray(extraStart, extraStart + extraLength)), sourceName);
    entries.set(name, entry);
    at = end;
  }
  if (at !== directory.byteLength) {
    throw new CheckpointFormatError(
      'bad-zip',
      `${sourceName}: zip directory has ${directory.byteLength - at} bytes after its ${entryCount} entries: the entry count is wrong`,
    );
  }
  return entries;
}

/**
 * An extra field as its records (id → body). The records must fill it exactly: a length that was changed
 * leaves bytes over or runs past the end, and is caught here rather than trusted.
 */
function extraRecords(extra: DataView, where: string, sourceName: string): Map<number, DataView> {
  const records = new Map<number, DataView>();
  let at = 0;
  while (at < extra.byteLength) {
    const body = at + 4;
    const length = body <= extra.byteLength ? extra.getUint16(at + 2, true) : Infinity;
    if (body + length > extra.byteLength) {
      throw new CheckpointFormatError('bad-zip', `${sourceName}: ${where} has a damaged extra field (its records do not fill its length)`);
    }
    records.set(extra.getUint16(at, true), new DataView(extra.buffer, extra.byteOffset + body, length));
    at = body + length;
  }
  return records;
}

/** Reads the ZIP64 values (id 1) that stand in for saturated 32-bit fields, in the order the format fixes. */
function zip64Reader(record: DataView | undefined, where: string, sourceName: string): (what: string) => number {
  let field = 0;
  return (what) => {
    if (!record || field + 8 > record.byteLength) {
      throw new CheckpointFormatError('bad-zip', `${sourceName}: ${where} lacks its ZIP64 ${what}`);
    }
    const value = u64(record, field, what);
    field += 8;
    return value;
  };
}

/** A ZIP64 extra field (id 1) holds, in order, whichever of the 32-bit fields were saturated to 0xFFFFFFFF. */
function applyZip64Extra(entry: ZipEntry, extra: DataView, sourceName: string): void {
  const where = `zip entry ${entry.name}`;
  const next = zip64Reader(extraRecords(extra, where, sourceName).get(ZIP64_EXTRA_ID), where, sourceName);
  if (entry.size === SATURATED) entry.size = next('size');
  if (entry.compressedSize === SATURATED) entry.compressedSize = next('compressed size');
  if (entry.localHeaderOffset === SATURATED) entry.localHeaderOffset = next('header offset');
}

/** Refuses entries that cannot be read in place: compressed or encrypted. */
function checkStored(entry: ZipEntry, sourceName: string): void {
  if (entry.flags & FLAG_ENCRYPTED) {
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
    if (entry.localHeaderOffset + LOCAL_BYTES > entry.regionEnd) {
      throw new CheckpointFormatError('bad-zip', `${source.name}: zip entry ${entry.name} has no room for its header before the next entry or the directory`);
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
      dataOffsets.set(entry.name, await dataOffsetOf(source, entry, bytes, start));
    }
  });
  return dataOffsets;
}

async function dataOffsetOf(
  source: ByteSource,
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
  const dataOffset = nameStart + nameLength + extraLength;
  if (dataOffset > entry.regionEnd) {
    throw new CheckpointFormatError('bad-zip', `${source.name}: local header of zip entry ${entry.name} runs into the next entry`);
  }
  // Name and extra field: from the window when it holds them (it usually does), else one more read.
  const variable =
    at + LOCAL_BYTES + nameLength + extraLength <= window.byteLength
      ? window.subarray(at + LOCAL_BYTES, at + LOCAL_BYTES + nameLength + extraLength)
      : await source.read(nameStart, nameLength + extraLength);
  if (new TextDecoder().decode(variable.subarray(0, nameLength)) !== entry.name) {
    throw new CheckpointFormatError('bad-zip', `${source.name}: local header of zip entry ${entry.name} names a different file`);
  }
  checkLocalAgrees(entry, header, view(variable.subarray(nameLength)), source.name);
  if (dataOffset + entry.compressedSize > entry.regionEnd) {
    throw new CheckpointFormatError(
      'bad-zip',
      `${source.name}: zip entry ${entry.name} (${entry.compressedSize} bytes at ${dataOffset}) runs into the next entry or the central directory`,
    );
  }
  return dataOffset;
}

/**
 * The local header must describe the entry the central directory does: the same method and encryption,
 * and the same CRC and sizes — or zeros, when flag bit 3 moves them into a data descriptor (PyTorch's
 * writer does this), or 0xFFFFFFFF with the real values in a ZIP64 extra record.
 */
function checkLocalAgrees(entry: ZipEntry, header: DataView, extra: DataView, sourceName: string): void {
  const where = `local header of zip entry ${entry.name}`;
  const flags = header.getUint16(6, true);
  const method = header.getUint16(8, true);
  const disagree = (what: string, local: number, central: number): CheckpointFormatError =>
    new CheckpointFormatError('bad-zip', `${sourceName}: ${where} gives ${what} ${local} but the central directory ${central}`);
  if (method !== entry.method) throw disagree('method', method, entry.method);
  if ((flags & FLAG_ENCRYPTED) !== (entry.flags & FLAG_ENCRYPTED)) throw disagree('encryption flag', flags & FLAG_ENCRYPTED, entry.flags & FLAG_ENCRYPTED);
  const deferred = (flags & FLAG_DATA_DESCRIPTOR) !== 0;
  const crc = header.getUint32(14, true);
  if (crc !== entry.crc32 && !(deferred && crc === 0)) throw disagree('CRC-32', crc, entry.crc32);
  const next = zip64Reader(extraRecords(extra, where, sourceName).get(ZIP64_EXTRA_ID), where, sourceName);
  // The ZIP64 record of a local header holds the size first, then the compressed size.
  const size = header.getUint32(22, true);
  const compressedSize = header.getUint32(18, true);
  const localSize = size === SATURATED ? next('size') : size;
  const localCompressed = compressedSize === SATURATED ? next('compressed size') : compressedSize;
  if (localSize !== entry.size && !(deferred && size === 0)) throw disagree('size', localSize, entry.size);
  if (localCompressed !== entry.compressedSize && !(deferred && compressedSize === 0)) {
    throw disagree('compressed size', localCompressed, entry.compressedSize);
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
