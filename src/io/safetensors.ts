// safetensors: [u64 LE header length N][N bytes of JSON][tensor data]. The JSON maps each name to
// { dtype, shape, data_offsets: [begin, end] } relative to the data start. We read only the header here,
// and trust nothing in it: the header's size and entry count are capped before it is parsed, and the
// tensors must tile the data section exactly (sorted by offset: the first at 0, each starting where the
// previous ends, the last ending at the end of the file, each as long as shape × dtype), as the reference
// Rust implementation requires. So a length field moved into the header's trailing spaces, or offsets
// shifted by a few bytes, fail here instead of reading every tensor a few bytes off.

import { CheckpointFormatError, TruncatedFileError, UnsupportedDtypeError } from '../errors';
import type { ByteSource } from './source';
import { elementCount, isTensorDtype, type IndexOptions, type TensorInfo } from './tensor-info';

/**
 * Largest header read: OpenCLIP's biggest checkpoints (ViT-bigG, ~1,000 tensors) have headers under
 * 200 KiB, so 16 MiB leaves ample room and still refuses a 91 MB header before reading it.
 */
export const MAX_SAFETENSORS_HEADER_BYTES = 16 * 1024 * 1024;
/** Most entries a header may list: a CoCa ViT-L/14 has 575 tensors, ViT-bigG CLIP about 1,000. */
export const MAX_SAFETENSORS_TENSORS = 100_000;
/** Nesting a valid header needs: the header object, an entry object, its shape or data_offsets array. */
const MAX_HEADER_DEPTH = 3;

/** Bytes per element of every dtype the format defines, so skipped tensors still get their sizes checked. */
const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1,
};

export interface SafetensorsIndex {
  tensors: Map<string, TensorInfo>;
  /** The optional `__metadata__` string map. */
  metadata: Record<string, string>;
}

interface RawEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export async function readSafetensorsIndex(source: ByteSource, options: IndexOptions = {}): Promise<SafetensorsIndex> {
  if (source.size < 8) {
    throw new TruncatedFileError(`${source.name}: ${source.size} bytes is too short for a safetensors file (an interrupted download?)`);
  }
  const lengthBytes = await source.read(0, 8);
  const lengthView = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8);
  // Read as two halves: a u64 above 2^53 would lose precision as a number but is rejected anyway.
  const headerLength = lengthView.getUint32(0, true) + lengthView.getUint32(4, true) * 2 ** 32;
  if (headerLength > MAX_SAFETENSORS_HEADER_BYTES) {
    throw new CheckpointFormatError(
      'header-too-large',
      `${source.name}: safetensors header claims ${headerLength} bytes, more than the ${MAX_SAFETENSORS_HEADER_BYTES} ` +
        'any real checkpoint needs: the file is corrupt or not safetensors',
    );
  }
  if (headerLength > source.size - 8) {
    throw new TruncatedFileError(
      `${source.name}: safetensors header claims ${headerLength} bytes but the file has only ${source.size}: ` +
        'the file is truncated (an interrupted download?) or not safetensors',
    );
  }
  const headerBytes = await source.read(8, headerLength);
  checkHeaderShape(headerBytes, source.name);
  const header = parseHeader(headerBytes, source.name);
  const dataStart = 8 + headerLength;
  const dataSize = source.size - dataStart;

  let metadata: Record<string, string> = {};
  const entries: RawEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(value, source.name);
      continue;
    }
    entries.push(parseEntry(name, value, source.name));
  }
  if (entries.length > MAX_SAFETENSORS_TENSORS) throw tooManyTensors(source.name);
  for (const entry of entries) checkByteLength(entry, source.name);
  checkTiling(entries, dataSize, source.name);

  const skip = new Set(options.skipDtypes ?? []);
  const tensors = new Map<string, TensorInfo>();
  for (const { name, dtype, shape, begin, end } of entries) {
    if (isTensorDtype(dtype)) {
      tensors.set(name, { name, dtype, shape, byteOffset: dataStart + begin, byteLength: end - begin });
    } else if (!skip.has(dtype)) {
      throw new UnsupportedDtypeError(name, dtype, `${source.name}: tensor ${name} has dtype ${dtype}; only F32, F16 and BF16 are supported`);
    }
  }
  return { tensors, metadata };
}

/**
 * One pass over the raw header, before JSON.parse builds anything: it must be one object whose entries
 * nest no deeper than a tensor entry does, with at most MAX_SAFETENSORS_TENSORS keys. Strings are skipped
 * whole, so brackets and colons inside names do not count.
 */
function checkHeaderShape(bytes: Uint8Array, sourceName: string): void {
  const bad = (what: string): CheckpointFormatError => new CheckpointFormatError('bad-header', `${sourceName}: safetensors header ${what}`);
  if (bytes[0] !== 0x7b) throw bad('does not start with "{"');
  let depth = 0;
  let keys = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === 0x22) {
      // A string: skip to its closing quote, stepping over escapes.
      for (i++; i < bytes.length && bytes[i] !== 0x22; i++) if (bytes[i] === 0x5c) i++;
    } else if (byte === 0x7b || byte === 0x5b) {
      if (++depth > MAX_HEADER_DEPTH) throw bad(`nests deeper than a tensor entry (depth ${depth} at byte ${i})`);
    } else if (byte === 0x7d || byte === 0x5d) {
      depth--;
    } else if (byte === 0x3a && depth === 1 && ++keys > MAX_SAFETENSORS_TENSORS + 1) {
      // One key may be __metadata__; the exact count is checked again after parsing.
      throw tooManyTensors(sourceName);
    }
  }
}

function tooManyTensors(sourceName: string): CheckpointFormatError {
  return new CheckpointFormatError(
    'too-many-tensors',
    `${sourceName}: safetensors header lists more than ${MAX_SAFETENSORS_TENSORS} tensors; no real checkpoint has that many`,
  );
}

function parseHeader(bytes: Uint8Array, sourceName: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new CheckpointFormatError('bad-header', `${sourceName}: safetensors header is not valid UTF-8 JSON (${String(cause)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new CheckpointFormatError('bad-header', `${sourceName}: safetensors header is not a JSON object`);
  }
  return header as Record<string, unknown>;
}

function parseMetadata(value: unknown, sourceName: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CheckpointFormatError('bad-header', `${sourceName}: __metadata__ must be an object of strings`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') {
      throw new CheckpointFormatError('bad-header', `${sourceName}: __metadata__.${key} is not a string`);
    }
    metadata[key] = item;
  }
  return metadata;
}

function parseEntry(name: string, value: unknown, sourceName: string): RawEntry {
  const bad = (what: string): CheckpointFormatError =>
    new CheckpointFormatError('bad-header', `${sourceName}: safetensors entry ${name} ${what}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('is not an object');
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') throw bad('has no dtype');
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw bad(`has an invalid shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
  ) {
    throw bad(`has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) {
    throw new CheckpointFormatError('offset-out-of-range', `${sourceName}: tensor ${name} has data_offsets [${begin}, ${end}] that end before they begin`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** A tensor's byte range must be exactly shape × dtype long (unknown dtypes fail later, by name). */
function checkByteLength({ name, dtype, shape, begin, end }: RawEntry, sourceName: string): void {
  const elementBytes = SAFETENSORS_DTYPE_BYTES[dtype];
  if (elementBytes === undefined) return;
  const expected = elementCount(shape, name) * elementBytes;
  if (end - begin !== expected) {
    throw new CheckpointFormatError(
      'size-mismatch',
      `${sourceName}: tensor ${name} [${shape.join(', ')}] ${dtype} needs ${expected} bytes but its data_offsets span ${end - begin}`,
    );
  }
}

/**
 * The tensors, sorted by offset, cover [0, dataSize) exactly once: two tensors sharing bytes would alias,
 * and bytes no tensor owns mean the offsets or the header length are off.
 */
function checkTiling(entries: readonly RawEntry[], dataSize: number, sourceName: string): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: RawEntry | null = null;
  for (const entry of sorted) {
    if (entry.begin < covered) {
      throw new CheckpointFormatError(
        'overlap',
        `${sourceName}: tensors ${previous!.name} [${previous!.begin}, ${previous!.end}) and ${entry.name} ` +
          `[${entry.begin}, ${entry.end}) overlap: the header is corrupt`,
      );
    }
    if (entry.begin > covered) {
      throw new CheckpointFormatError(
        'gap',
        `${sourceName}: no tensor covers data bytes [${covered}, ${entry.begin}) before ${entry.name}: the header is corrupt`,
      );
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered > dataSize) {
    throw new TruncatedFileError(
      `${sourceName}: the header describes ${covered} bytes of tensor data but the file holds ${dataSize} after it: ` +
        'the file is truncated (an interrupted download?)',
    );
  }
  if (covered < dataSize) {
    throw new CheckpointFormatError(
      'gap',
      `${sourceName}: ${dataSize - covered} bytes follow the last tensor (data ends at ${covered} of ${dataSize}): ` +
        "the header's length field or its offsets are corrupt",
    );
  }
}
