// safetensors: [u64 LE header length N][N bytes of JSON][tensor data]. The JSON maps each name to
// { dtype, shape, data_offsets: [begin, end] } relative to the data start. We read only the header here;
// every offset is checked against the file size and against shape × dtype before anything trusts it.

import { CheckpointFormatError, UnsupportedDtypeError } from '../errors';
import type { ByteSource } from './source';
import { elementCount, isTensorDtype, type IndexOptions, type TensorInfo } from './tensor-info';

/** The safetensors format's own limit on the header; anything above is a corrupt or hostile file. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

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
    throw new CheckpointFormatError('header-too-large', `${source.name}: ${source.size} bytes is too short for a safetensors file`);
  }
  const lengthBytes = await source.read(0, 8);
  const lengthView = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8);
  // Read as two halves: a u64 above 2^53 would lose precision as a number but is rejected anyway.
  const headerLength = lengthView.getUint32(0, true) + lengthView.getUint32(4, true) * 2 ** 32;
  if (headerLength > MAX_HEADER_BYTES || headerLength > source.size - 8) {
    throw new CheckpointFormatError(
      'header-too-large',
      `${source.name}: safetensors header claims ${headerLength} bytes but the file has ${source.size} ` +
        `(limit ${MAX_HEADER_BYTES}): the file is truncated or not safetensors`,
    );
  }
  const header = parseHeader(await source.read(8, headerLength), source.name);
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

  const skip = new Set(options.skipDtypes ?? []);
  const tensors = new Map<string, TensorInfo>();
  for (const entry of entries) {
    const { name, dtype, shape, begin, end } = entry;
    if (end > dataSize) {
      throw new CheckpointFormatError(
        'offset-out-of-range',
        `${source.name}: tensor ${name} ends at data byte ${end} but the data section has only ${dataSize} bytes ` +
          '(the file is truncated or its header is corrupt)',
      );
    }
    const elementBytes = SAFETENSORS_DTYPE_BYTES[dtype];
    if (!isTensorDtype(dtype) && !skip.has(dtype)) {
      throw new UnsupportedDtypeError(
        name,
        dtype,
        `${source.name}: tensor ${name} has dtype ${dtype}; only F32, F16 and BF16 are supported`,
      );
    }
    if (elementBytes !== undefined) {
      const expected = elementCount(shape, name) * elementBytes;
      if (end - begin !== expected) {
        throw new CheckpointFormatError(
          'size-mismatch',
          `${source.name}: tensor ${name} [${shape.join(', ')}] ${dtype} needs ${expected} bytes but its data_offsets span ${end - begin}`,
        );
      }
    }
    if (isTensorDtype(dtype)) {
      tensors.set(name, { name, dtype, shape, byteOffset: dataStart + begin, byteLength: end - begin });
    }
  }
  checkNoOverlap(entries, source.name);
  return { tensors, metadata };
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

/** Two tensors sharing bytes would mean a corrupt (or crafted) header: writes to one would alias another. */
function checkNoOverlap(entries: readonly RawEntry[], sourceName: string): void {
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1]!;
    const current = sorted[i]!;
    if (current.begin < previous.end) {
      throw new CheckpointFormatError(
        'overlap',
        `${sourceName}: tensors ${previous.name} [${previous.begin}, ${previous.end}) and ${current.name} ` +
          `[${current.begin}, ${current.end}) overlap`,
      );
    }
  }
}
