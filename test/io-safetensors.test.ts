import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError, UnsupportedDtypeError } from '../src/errors';
import { MAX_SAFETENSORS_HEADER_BYTES, MAX_SAFETENSORS_TENSORS, readSafetensorsIndex } from '../src/io/safetensors';
import { MemorySource, type ByteSource } from '../src/io/source';
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
    const { tensors } = await index(
      {
        s: { dtype: 'F32', shape: [], data_offsets: [0, 4] },
        e: { dtype: 'F32', shape: [0, 3], data_offsets: [4, 4] },
      },
      DATA.subarray(0, 4),
    );
    expect(tensors.get('s')!.byteLength).toBe(4);
    expect(tensors.get('e')!.byteLength).toBe(0);
  });
});

describe('corrupt safetensors', () => {
  it('a header length larger than the file: truncated', async () => {
    const file = buildSafetensors({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, DATA);
    new DataView(file.buffer).setUint32(0, file.byteLength, true);
    expect(await code(readSafetensorsIndex(new MemorySource(file, 'f')))).toMatch(/^truncated: f: safetensors header claims \d+ bytes but the file has only/);
  });

  it('an absurd 2^40-byte header length', async () => {
    const file = concat([[0, 0, 0, 0, 0, 1, 0, 0], new Uint8Array(64)]);
    expect(await code(readSafetensorsIndex(new MemorySource(file)))).toMatch(/^header-too-large: .*claims 1099511627776 bytes/);
  });

  it('a file shorter than the length field', async () => {
    expect(await code(readSafetensorsIndex(new MemorySource(new Uint8Array(5))))).toMatch(/^truncated: .*too short/);
  });

  it('a tensor past the end of the file: truncated', async () => {
    expect(await code(index({ a: { dtype: 'F32', shape: [7], data_offsets: [0, 28] } }))).toMatch(
      /^truncated: .*describes 28 bytes of tensor data but the file holds 24/,
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

  it('bytes no tensor covers: before the first, between two, after the last', async () => {
    expect(await code(index({ a: { dtype: 'F32', shape: [5], data_offsets: [4, 24] } }))).toMatch(/^gap: .*no tensor covers data bytes \[0, 4\) before a/);
    expect(
      await code(
        index({
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [3], data_offsets: [12, 24] },
        }),
      ),
    ).toMatch(/^gap: .*no tensor covers data bytes \[8, 12\) before b/);
    expect(await code(index({ a: { dtype: 'F32', shape: [5], data_offsets: [0, 20] } }))).toMatch(/^gap: .*4 bytes follow the last tensor/);
  });

  it("a length field shortened into the header's trailing spaces", async () => {
    // Writers pad the header with spaces; a length that stops early still parses as JSON, but every
    // tensor would then be read from a few bytes too early.
    const json = new TextEncoder().encode(`${JSON.stringify({ a: { dtype: 'F32', shape: [6], data_offsets: [0, 24] } })}    `);
    const good = concat([[json.byteLength, 0, 0, 0, 0, 0, 0, 0], json, DATA]);
    const { tensors } = await readSafetensorsIndex(new MemorySource(good));
    expect(tensors.get('a')!.byteOffset).toBe(8 + json.byteLength);
    const shortened = good.slice();
    shortened[0] = json.byteLength - 3;
    expect(await code(readSafetensorsIndex(new MemorySource(shortened)))).toMatch(/^gap: .*3 bytes follow the last tensor/);
  });

  it('JSON followed by other bytes inside the header length', async () => {
    const json = new TextEncoder().encode(`${JSON.stringify({ a: { dtype: 'F32', shape: [6], data_offsets: [0, 24] } })}  x`);
    const file = concat([[json.byteLength, 0, 0, 0, 0, 0, 0, 0], json, DATA]);
    expect(await code(readSafetensorsIndex(new MemorySource(file)))).toMatch(/^bad-header: .*not valid UTF-8 JSON/);
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
    expect(await code(readSafetensorsIndex(new MemorySource(array)))).toMatch(/^bad-header: .*does not start with "\{"/);
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

describe('header caps, checked before the header is parsed', () => {
  /** Serves `bytes` as the start of a file of `size` bytes, recording every read. */
  function countingSource(bytes: Uint8Array, size: number): ByteSource & { reads: [number, number][] } {
    const reads: [number, number][] = [];
    return {
      size,
      name: 'huge.safetensors',
      reads,
      read: async (offset, length) => {
        reads.push([offset, length]);
        return bytes.slice(offset, offset + length);
      },
    };
  }

  it('a 91 MB header is refused after reading only its 8-byte length', async () => {
    const headerLength = 91_000_000;
    const file = concat([new Uint8Array(new BigUint64Array([BigInt(headerLength)]).buffer), new TextEncoder().encode('{')]);
    const source = countingSource(file, 8 + headerLength + 1000);
    expect(await code(readSafetensorsIndex(source))).toMatch(
      new RegExp(`^header-too-large: .*claims ${headerLength} bytes, more than the ${MAX_SAFETENSORS_HEADER_BYTES}`),
    );
    expect(source.reads).toEqual([[0, 8]]);
  });

  it(`more than ${MAX_SAFETENSORS_TENSORS} entries are counted and refused before JSON.parse builds them`, async () => {
    // The JSON is also broken at its very end: had it been parsed first, the error would be bad-header.
    // (One key more than the cap may be __metadata__, so the scan stops at the cap + 2.)
    const entry = (i: number): string => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`;
    const text = `{${Array.from({ length: MAX_SAFETENSORS_TENSORS + 2 }, (_, i) => entry(i)).join(',')},`;
    const json = new TextEncoder().encode(text);
    expect(json.byteLength).toBeLessThan(MAX_SAFETENSORS_HEADER_BYTES);
    const file = concat([new Uint8Array(new BigUint64Array([BigInt(json.byteLength)]).buffer), json]);
    expect(await code(readSafetensorsIndex(new MemorySource(file)))).toMatch(
      new RegExp(`^too-many-tensors: .*more than ${MAX_SAFETENSORS_TENSORS} tensors`),
    );
  });

  it(`exactly ${MAX_SAFETENSORS_TENSORS} + 1 tensors and no metadata: refused after parsing`, async () => {
    const entry = (i: number): string => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`;
    const json = new TextEncoder().encode(`{${Array.from({ length: MAX_SAFETENSORS_TENSORS + 1 }, (_, i) => entry(i)).join(',')}}`);
    const file = concat([new Uint8Array(new BigUint64Array([BigInt(json.byteLength)]).buffer), json]);
    expect(await code(readSafetensorsIndex(new MemorySource(file)))).toMatch(/^too-many-tensors: /);
  });

  it('colons and brackets inside names do not count as entries or nesting', async () => {
    const name = 'a:[{b}]:"quoted\\"';
    const { tensors } = await index({ [name]: { dtype: 'F32', shape: [6], data_offsets: [0, 24] } });
    expect([...tensors.keys()]).toEqual([name]);
  });

  it('nesting deeper than a tensor entry', async () => {
    const json = new TextEncoder().encode(`{"a":{"shape":[[[[1]]]]}}`);
    const file = concat([[json.byteLength, 0, 0, 0, 0, 0, 0, 0], json]);
    expect(await code(readSafetensorsIndex(new MemorySource(file)))).toMatch(/^bad-header: .*nests deeper than a tensor entry \(depth 4/);
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
    [4, /^truncated: .*too short/],
    [5000, /^truncated: .*header claims 13640 bytes but the file has only 5000/],
    [13648 + 100, /^truncated: .*describes 20334532 bytes of tensor data but the file holds 100 after it/],
    [15_000_000, /^truncated: .*but the file holds 14986352 after it/],
  ];
  for (const [cut, expected] of cuts) {
    it(`cut at ${cut} bytes`, async () => {
      expect(await code(readSafetensorsIndex(truncatedSource(file, cut)))).toMatch(expected);
    });
  }
});
