import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError, UnsupportedDtypeError } from '../src/errors';
import { readSafetensorsIndex } from '../src/io/safetensors';
import { MemorySource } from '../src/io/source';
import { openFileSource, type FileSource } from '../src/io/source-node';
import { buildSafetensors, concat, f32Bytes, GOLDEN_SAFETENSORS, truncatedSource } from './io-fixtures';

const DATA = f32Bytes([1, 2, 3, 4, 5, 6]);

function index(header: Record<string, unknown>, data: Uint8Array = DATA, skipDtypes?: string[]) {
  return readSafetensorsIndex(new MemorySource(buildSafetensors(header, data), 'test.safetensors'), { skipDtypes });
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointFormatError);
    return `${(error as CheckpointFormatError).code}: ${(error as Error).message}`;
  }
  throw new Error('expected the file to be rejected');
}

describe('safetensors index', () => {
  it('places tensors after the 8-byte length and the header, and keeps metadata', async () => {
    const header = {
      __metadata__: { format: 'pt' },
      b: { dtype: 'F32', shape: [2, 2], data_offsets: [8, 24] },
      a: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
    };
    const { tensors, metadata } = await index(header);
    const dataStart = 8 + JSON.stringify(header).length;
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.values()]).toEqual([
      { name: 'b', dtype: 'F32', shape: [2, 2], byteOffset: dataStart + 8, byteLength: 16 },
      { name: 'a', dtype: 'F16', shape: [4], byteOffset: dataStart, byteLength: 8 },
    ]);
  });

  it('accepts a 0-d scalar and an empty tensor', async () => {
    const { tensors } = await index({
      s: { dtype: 'F32', shape: [], data_offsets: [0, 4] },
      e: { dtype: 'F32', shape: [0, 3], data_offsets: [4, 4] },
    });
    expect(tensors.get('s')!.byteLength).toBe(4);
    expect(tensors.get('e')!.byteLength).toBe(0);
  });
});

describe('corrupt safetensors', () => {
  it('a header length larger than the file', async () => {
    const file = buildSafetensors({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, DATA);
    new DataView(file.buffer).setUint32(0, file.byteLength, true);
    expect(await code(readSafetensorsIndex(new MemorySource(file, 'f')))).toMatch(/^header-too-large: f: safetensors header claims \d+ bytes but the file has/);
  });

  it('an absurd 2^40-byte header length', async () => {
    const file = concat([[0, 0, 0, 0, 0, 1, 0, 0], new Uint8Array(64)]);
    expect(await code(readSafetensorsIndex(new MemorySource(file)))).toMatch(/^header-too-large: .*claims 1099511627776 bytes/);
  });

  it('a file shorter than the length field', async () => {
    expect(await code(readSafetensorsIndex(new MemorySource(new Uint8Array(5))))).toMatch(/^header-too-large: .*too short/);
  });

  it('a tensor past the end of the file', async () => {
    expect(await code(index({ a: { dtype: 'F32', shape: [7], data_offsets: [0, 28] } }))).toMatch(
      /^offset-out-of-range: .*tensor a ends at data byte 28 but the data section has only 24 bytes/,
    );
  });

  it('offsets that end before they begin', async () => {
    expect(await code(index({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }))).toMatch(/^offset-out-of-range: .*end before they begin/);
  });

  it('overlapping tensors', async () => {
    const result = await code(
      index({
        a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
        b: { dtype: 'F32', shape: [3], data_offsets: [8, 20] },
      }),
    );
    expect(result).toMatch(/^overlap: .*tensors a \[0, 12\) and b \[8, 20\) overlap/);
  });

  it('a byte range that disagrees with shape × dtype', async () => {
    expect(await code(index({ a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }))).toMatch(
      /^size-mismatch: .*tensor a \[2, 3\] F32 needs 24 bytes but its data_offsets span 20/,
    );
  });

  it('a header that is not JSON, or not an object', async () => {
    const notJson = concat([[5, 0, 0, 0, 0, 0, 0, 0], new TextEncoder().encode('{oops')]);
    expect(await code(readSafetensorsIndex(new MemorySource(notJson)))).toMatch(/^bad-header: .*not valid UTF-8 JSON/);
    const array = concat([[2, 0, 0, 0, 0, 0, 0, 0], new TextEncoder().encode('[]')]);
    expect(await code(readSafetensorsIndex(new MemorySource(array)))).toMatch(/^bad-header: .*not a JSON object/);
  });

  it('malformed entries', async () => {
    expect(await code(index({ a: { shape: [1], data_offsets: [0, 4] } }))).toMatch(/entry a has no dtype/);
    expect(await code(index({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }))).toMatch(/invalid shape \[-1\]/);
    expect(await code(index({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }))).toMatch(/invalid data_offsets \[0\]/);
    expect(await code(index({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }))).toMatch(/absurdly large/);
  });

  it('an integer tensor: an error naming it unless its dtype is skipped', async () => {
    const header = {
      ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] },
      w: { dtype: 'F32', shape: [2], data_offsets: [16, 24] },
    };
    const error = await index(header).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedDtypeError);
    expect((error as UnsupportedDtypeError).tensor).toBe('ids');
    expect((error as Error).message).toMatch(/tensor ids has dtype I64; only F32, F16 and BF16 are supported/);
    const { tensors } = await index(header, DATA, ['I64']);
    expect([...tensors.keys()]).toEqual(['w']);
  });
});

describe('truncated golden safetensors', () => {
  let file: FileSource;
  beforeAll(async () => {
    file = await openFileSource(GOLDEN_SAFETENSORS);
  });
  afterAll(() => file.close());

  // The golden header is 13640 bytes: a cut inside it makes the declared length exceed the file.
  const cuts: [number, RegExp][] = [
    [4, /^header-too-large: .*too short/],
    [5000, /^header-too-large: /],
    [13648 + 100, /^offset-out-of-range: .*the file is truncated or its header is corrupt/],
    [15_000_000, /^offset-out-of-range: /],
  ];
  for (const [cut, expected] of cuts) {
    it(`cut at ${cut} bytes`, async () => {
      expect(await code(readSafetensorsIndex(truncatedSource(file, cut)))).toMatch(expected);
    });
  }
});
