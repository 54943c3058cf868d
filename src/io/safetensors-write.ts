// Writing safetensors: [u64 LE header length N][N bytes of JSON][tensor data], laid out as the reference
// implementation (huggingface/safetensors, `serialize`) lays it out, so its readers and ours accept the file:
// `__metadata__` first, tensors sorted by name with their data in that order and contiguous from offset 0,
// the header padded with spaces to a multiple of 8 so the data starts 8-byte aligned. F32 only: what the
// CLI stores. Bytes are the host's order, little-endian on every platform we target (as the reader assumes).
import { CheckpointFormatError } from '../errors';
import { MAX_SAFETENSORS_HEADER_BYTES } from './safetensors';

export interface F32Tensor {
  name: string;
  shape: readonly number[];
  /** Row-major, exactly shape's product of values. */
  data: Float32Array;
}

/** Header alignment: the data section starts at a multiple of this (the reference writer's padding). */
const HEADER_ALIGNMENT = 8;
const SPACE = 0x20;

/**
 * The file's bytes as consecutive chunks (the header, then each tensor's data as a view, not a copy), or a
 * CheckpointFormatError when the tensors or the metadata cannot make a file that readers accept.
 */
export function encodeSafetensors(tensors: readonly F32Tensor[], metadata: Readonly<Record<string, string>> = {}): Uint8Array[] {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const { name, shape, data } of sorted) {
    if (name === '__metadata__' || name in header) throw new CheckpointFormatError('bad-header', `cannot write a tensor named ${JSON.stringify(name)} twice or under the reserved name __metadata__`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0) || count !== data.length) {
      throw new CheckpointFormatError('size-mismatch', `tensor ${name}: shape [${shape.join(', ')}] does not hold its ${data.length} values`);
    }
    header[name] = { dtype: 'F32', shape: [...shape], data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const length = Math.ceil(json.byteLength / HEADER_ALIGNMENT) * HEADER_ALIGNMENT;
  if (length > MAX_SAFETENSORS_HEADER_BYTES) {
    throw new CheckpointFormatError('header-too-large', `a safetensors header of ${length} bytes is more than readers accept (${MAX_SAFETENSORS_HEADER_BYTES}): store fewer entries per file`);
  }
  const head = new Uint8Array(8 + length).fill(SPACE, 8 + json.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(length), true);
  head.set(json, 8);
  return [head, ...sorted.map(({ data }) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength))];
}
