import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError, TruncatedFileError, UnsafePickleError, UnsupportedDtypeError } from '../src/errors';
import { openCheckpoint } from '../src/io/checkpoint';
import { MemorySource, type ByteSource } from '../src/io/source';
import { openFileSource, type FileSource } from '../src/io/source-node';
import { readZipDirectory } from '../src/io/zip';
import {
  buildZip,
  f32Bytes,
  GOLDEN_TORCH,
  P,
  stateDictPickle,
  torchArchive,
  truncatedSource,
  tupleOf,
  type PickledTensor,
} from './io-fixtures';

const STORAGE = f32Bytes([0.5, -1, 2, 3.25, 4, 5, 6, 7, 8, 9, 10, 11]);
const TENSORS: PickledTensor[] = [
  { key: 'w', storageKey: '0', storageNumel: 12, shape: [3, 4] },
  { key: 'tail', storageKey: '0', storageNumel: 12, offset: 9, shape: [1, 3], stride: [99, 1] },
];

async function open(bytes: Uint8Array, options?: { skipDtypes?: string[] }) {
  return openCheckpoint(new MemorySource(bytes, 'test.bin'), undefined, options);
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the checkpoint to be rejected');
}

describe('torch zip archives', () => {
  for (const zip64 of [false, true]) {
    it(`reads tensors and views into shared storages${zip64 ? ' (ZIP64 records)' : ''}`, async () => {
      const checkpoint = await open(torchArchive(stateDictPickle(TENSORS, { ordered: true }), { '0': STORAGE }, { zip64 }));
      expect(checkpoint.kind).toBe('torch');
      expect(Array.from(await checkpoint.readF32('w'))).toEqual([0.5, -1, 2, 3.25, 4, 5, 6, 7, 8, 9, 10, 11]);
      // A size-1 dimension may carry any stride and still be contiguous.
      expect(checkpoint.tensors.get('tail')!.shape).toEqual([1, 3]);
      expect(Array.from(await checkpoint.readF32('tail'))).toEqual([9, 10, 11]);
    });
  }

  it('finds the golden archive layout: ZIP64 end record, padded local headers', async () => {
    const file = await openFileSource(GOLDEN_TORCH);
    try {
      const directory = await readZipDirectory(file);
      expect(directory.entries.size).toBe(131);
      expect(directory.entries.get('open_clip_pytorch_model/data.pkl')!.size).toBe(14984);
      expect(directory.entries.get('open_clip_pytorch_model/data/0')!.localHeaderOffset).toBe(15128);
      // data/0 is logit_scale: its local header (30 + 30-byte name + 44-byte extra) ends at 15232.
      const checkpoint = await openCheckpoint(file);
      expect(checkpoint.tensors.get('logit_scale')!.byteOffset).toBe(15128 + 30 + 'open_clip_pytorch_model/data/0'.length + 44);
    } finally {
      await file.close();
    }
  });
});

describe('truncated golden .bin', () => {
  let file: FileSource;
  beforeAll(async () => {
    file = await openFileSource(GOLDEN_TORCH);
  });
  afterAll(() => file.close());

  // Cuts inside the central directory, inside data.pkl, inside a storage, and just before the end record.
  const cuts: [string, (size: number) => number][] = [
    ['inside the zip directory', (size) => size - 5000],
    ['inside the pickle', () => 7000],
    ['inside a storage', () => 10_000_000],
    ['one byte short', (size) => size - 1],
  ];
  for (const [label, cutAt] of cuts) {
    it(`reports a truncated file when cut ${label}`, async () => {
      const error = await failure(openCheckpoint(truncatedSource(file, cutAt(file.size))));
      expect(error).toBeInstanceOf(TruncatedFileError);
      expect(error.message).toMatch(/no end-of-central-directory record: the file is truncated/);
    });
  }
});

describe('damaged archives with an intact directory', () => {
  it('a pickle cut short inside its zip entry', async () => {
    const pickle = stateDictPickle(TENSORS);
    const error = await failure(open(torchArchive(pickle.subarray(0, 60), { '0': STORAGE })));
    expect(error).toBeInstanceOf(TruncatedFileError);
    expect(error.message).toMatch(/archive\/data\.pkl ends inside .* the pickle is truncated/);
  });

  it('a storage shorter than its declared element count', async () => {
    const error = await failure(open(torchArchive(stateDictPickle(TENSORS), { '0': STORAGE.subarray(0, 40) })));
    expect((error as CheckpointFormatError).code).toBe('size-mismatch');
    expect(error.message).toMatch(/storage archive\/data\/0 holds 40 bytes but declares 12 F32 elements/);
  });

  it('a storage the archive lacks', async () => {
    const error = await failure(open(torchArchive(stateDictPickle(TENSORS), { '1': STORAGE })));
    expect((error as CheckpointFormatError).code).toBe('missing-storage');
    expect(error.message).toMatch(/tensor w needs storage archive\/data\/0/);
  });

  it('a tensor that runs past its storage', async () => {
    const tensors: PickledTensor[] = [{ key: 'w', storageKey: '0', storageNumel: 12, offset: 10, shape: [3] }];
    const error = await failure(open(torchArchive(stateDictPickle(tensors), { '0': STORAGE })));
    expect((error as CheckpointFormatError).code).toBe('offset-out-of-range');
  });

  it('a compressed pickle entry', async () => {
    const bytes = buildZip([
      { name: 'archive/data.pkl', data: stateDictPickle(TENSORS), method: 8 },
      { name: 'archive/data/0', data: STORAGE },
    ]);
    const error = await failure(open(bytes));
    expect((error as CheckpointFormatError).code).toBe('compressed-entry');
    expect(error.message).toMatch(/zip entry archive\/data\.pkl is compressed \(method 8\)/);
  });

  it('a compressed storage entry', async () => {
    const bytes = buildZip([
      { name: 'archive/data.pkl', data: stateDictPickle(TENSORS) },
      { name: 'archive/data/0', data: STORAGE, method: 8 },
    ]);
    const error = await failure(open(bytes));
    expect((error as CheckpointFormatError).code).toBe('compressed-entry');
    expect(error.message).toMatch(/zip entry archive\/data\/0 is compressed/);
  });

  it('a directory that points outside the file', async () => {
    const bytes = torchArchive(stateDictPickle(TENSORS), { '0': STORAGE });
    const view = new DataView(bytes.buffer);
    view.setUint32(bytes.byteLength - 6, bytes.byteLength * 2, true); // EOCD: directory offset
    const error = await failure(open(bytes));
    expect((error as CheckpointFormatError).code).toBe('bad-zip');
    expect(error.message).toMatch(/central directory .* does not fit before its end record/);
  });

  it('a big-endian archive', async () => {
    const bytes = torchArchive(stateDictPickle(TENSORS), { '0': STORAGE }, {
      extra: [{ name: 'archive/byteorder', data: new TextEncoder().encode('big') }],
    });
    expect(((await failure(open(bytes))) as CheckpointFormatError).code).toBe('big-endian');
  });

  it('a pickle entry claiming 8 GiB is refused before anything is read or allocated', async () => {
    const bytes = buildZip([{ name: 'archive/data.pkl', data: stateDictPickle(TENSORS), declaredSize: 2 ** 33 }], { zip64: true });
    const error = await failure(open(bytes));
    expect((error as CheckpointFormatError).code).toBe('bad-pickle');
    expect(error.message).toMatch(/archive\/data\.pkl is 8589934592 bytes, too large for a state dict/);
  });

  it('a zip without data.pkl', async () => {
    const error = await failure(open(buildZip([{ name: 'readme.txt', data: new Uint8Array(3) }])));
    expect(error.message).toMatch(/expected one <archive>\/data\.pkl in the zip, found 0/);
  });
});

describe('tensors the runtime cannot use', () => {
  it('a non-contiguous (transposed) tensor', async () => {
    const tensors: PickledTensor[] = [{ key: 'wt', storageKey: '0', storageNumel: 12, shape: [4, 3], stride: [1, 4] }];
    const error = await failure(open(torchArchive(stateDictPickle(tensors), { '0': STORAGE })));
    expect((error as CheckpointFormatError).code).toBe('non-contiguous');
    expect(error.message).toMatch(/tensor wt \[4, 3\] has strides \(1, 4\), not row-major/);
  });

  it('an int64 buffer: an error naming it, or skipped when asked', async () => {
    const tensors: PickledTensor[] = [
      ...TENSORS,
      { key: 'position_ids', storageKey: '1', storageType: 'LongStorage', storageNumel: 2, shape: [2] },
    ];
    const bytes = torchArchive(stateDictPickle(tensors), { '0': STORAGE, '1': new Uint8Array(16) });
    const error = await failure(open(bytes));
    expect(error).toBeInstanceOf(UnsupportedDtypeError);
    expect((error as UnsupportedDtypeError).tensor).toBe('position_ids');
    expect((error as UnsupportedDtypeError).dtype).toBe('I64');
    const checkpoint = await open(bytes, { skipDtypes: ['I64'] });
    expect([...checkpoint.tensors.keys()]).toEqual(['w', 'tail']);
  });

  it('a pickle that asks for os.system inside an otherwise valid archive', async () => {
    const evil = Uint8Array.from([
      ...P.proto(), ...P.global('os', 'system'), ...tupleOf(P.str('echo pwned')), ...P.reduce(), ...P.stop(),
    ]);
    const error = await failure(open(torchArchive(evil, {})));
    expect(error).toBeInstanceOf(UnsafePickleError);
    expect((error as UnsafePickleError).globalName).toBe('os.system');
  });
});

describe('reads stay lazy', () => {
  it('opens the golden .bin reading only its directory, pickle and local headers', async () => {
    const file = await openFileSource(GOLDEN_TORCH);
    let bytesRead = 0;
    const counting: ByteSource = {
      size: file.size,
      name: file.name,
      read: (offset, length) => {
        bytesRead += length;
        return file.read(offset, length);
      },
    };
    try {
      const checkpoint = await openCheckpoint(counting);
      const indexBytes = bytesRead;
      await checkpoint.readF32('text.cls_emb');
      // Directory (~13 KiB), pickle (15 KiB) and coalesced local headers: a few percent of 20 MB.
      expect(indexBytes).toBeLessThan(file.size / 20);
      expect(bytesRead - indexBytes).toBe(48 * 4);
    } finally {
      await file.close();
    }
  });
});

/** Byte equality without vitest's element-by-element diff (megabytes of it are slow). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

describe('CRC-32 of every entry read', () => {
  const golden = new Uint8Array(readFileSync(GOLDEN_TORCH));
  // text_decoder.text_projection [48, 49408] f32: a 9.5 MB storage, read in ranges by the loader.
  const BIG = 'text_decoder.text_projection';

  async function goldenIndex(bytes: Uint8Array = golden) {
    const checkpoint = await openCheckpoint(new MemorySource(bytes, 'model.bin'));
    return { checkpoint, info: checkpoint.tensors.get(BIG)! };
  }

  function flipped(at: number): Uint8Array {
    const bytes = golden.slice();
    bytes[at]! ^= 0x10;
    return bytes;
  }

  it('reads the golden storages in ranges, in order and out of order, with the bytes unchanged', async () => {
    const { checkpoint, info } = await goldenIndex();
    const half = Math.floor(info.byteLength / 8) * 4;
    const whole = golden.subarray(info.byteOffset, info.byteOffset + info.byteLength);
    // Second half first (a resumed download), then the first half, then everything again.
    expect(sameBytes(await checkpoint.source.read(info.byteOffset + half, info.byteLength - half), whole.subarray(half))).toBe(true);
    expect(sameBytes(await checkpoint.source.read(info.byteOffset, half), whole.subarray(0, half))).toBe(true);
    expect(sameBytes(await checkpoint.readBytes(BIG), whole)).toBe(true);
  });

  it('a flipped byte in a storage read in ranges fails when the entry is complete, and keeps failing', async () => {
    const { info } = await goldenIndex();
    const { checkpoint } = await goldenIndex(flipped(info.byteOffset + 1000));
    const half = Math.floor(info.byteLength / 8) * 4;
    await checkpoint.source.read(info.byteOffset, half); // the loader's first chunk: not yet known
    const error = await failure(checkpoint.source.read(info.byteOffset + half, info.byteLength - half));
    expect((error as CheckpointFormatError).code).toBe('crc-mismatch');
    expect(error.message).toMatch(/model\.bin: zip entry open_clip_pytorch_model\/data\/\d+ fails its CRC-32 check .* the file is corrupt; download it again/);
    expect(((await failure(checkpoint.readF32(BIG))) as CheckpointFormatError).code).toBe('crc-mismatch');
  });

  it('a read that starts after the flipped byte (a resumed download) still catches it', async () => {
    const { info } = await goldenIndex();
    const { checkpoint } = await goldenIndex(flipped(info.byteOffset + 4));
    const error = await failure(checkpoint.source.read(info.byteOffset + info.byteLength - 400, 400));
    expect((error as CheckpointFormatError).code).toBe('crc-mismatch');
  });

  it('a flipped byte in the pickle fails at open', async () => {
    const directory = await readZipDirectory(new MemorySource(golden));
    const pickle = directory.entries.get('open_clip_pytorch_model/data.pkl')!;
    // Inside a tensor name string of the pickle: still a valid pickle, but not the one that was saved.
    const error = await failure(openCheckpoint(new MemorySource(flipped(pickle.localHeaderOffset + 30 + 32 + 66 + 40))));
    expect((error as CheckpointFormatError).code).toBe('crc-mismatch');
    expect(error.message).toMatch(/zip entry open_clip_pytorch_model\/data\.pkl fails its CRC-32 check/);
  });

  it('the unused tail of a storage is checked too', async () => {
    const storage = f32Bytes([1, 2, 3, 4, 5, 6, 7, 8]);
    const tensors: PickledTensor[] = [{ key: 'head', storageKey: '0', storageNumel: 8, shape: [4] }];
    const archive = torchArchive(stateDictPickle(tensors), { '0': storage });
    const good = await open(archive);
    expect(Array.from(await good.readF32('head'))).toEqual([1, 2, 3, 4]);
    const damaged = archive.slice();
    const tail = good.tensors.get('head')!.byteOffset + 28; // element 7, which no tensor uses
    damaged[tail]! ^= 1;
    expect(((await failure((await open(damaged)).readF32('head'))) as CheckpointFormatError).code).toBe('crc-mismatch');
  });
});

describe('directory and local headers must agree', () => {
  const archive = (): Uint8Array => torchArchive(stateDictPickle(TENSORS), { '0': STORAGE });

  /** Offset of the local header of `name` in a fixture archive. */
  async function localHeader(bytes: Uint8Array, name: string): Promise<number> {
    return (await readZipDirectory(new MemorySource(bytes))).entries.get(name)!.localHeaderOffset;
  }

  it('a name listed twice in the directory', async () => {
    const bytes = buildZip([
      { name: 'archive/data.pkl', data: stateDictPickle(TENSORS) },
      { name: 'archive/data/0', data: STORAGE },
      { name: 'archive/data/0', data: f32Bytes(new Array<number>(12).fill(0)) },
    ]);
    const error = await failure(open(bytes));
    expect((error as CheckpointFormatError).code).toBe('duplicate-entry');
    expect(error.message).toMatch(/zip directory lists archive\/data\/0 twice/);
  });

  it('a local extra length changed to slide the data', async () => {
    for (const delta of [4, -4, 8]) {
      const bytes = archive();
      const at = await localHeader(bytes, 'archive/data/0');
      const view = new DataView(bytes.buffer);
      view.setUint16(at + 28, view.getUint16(at + 28, true) + delta, true);
      const error = await failure(open(bytes));
      expect((error as CheckpointFormatError).code, `extra length ${delta}`).toBe('bad-zip');
      expect(error.message).toMatch(/local header of zip entry archive\/data\/0 has a damaged extra field/);
    }
  });

  it('the golden archive with one extra length changed', async () => {
    const bytes = new Uint8Array(readFileSync(GOLDEN_TORCH));
    const at = await localHeader(bytes, 'open_clip_pytorch_model/data/5');
    const view = new DataView(bytes.buffer);
    view.setUint16(at + 28, view.getUint16(at + 28, true) + 4, true);
    const error = await failure(open(bytes));
    expect((error as CheckpointFormatError).code).toBe('bad-zip');
  });

  it('a local size, CRC or method that differs from the directory', async () => {
    const cases: [number, number, RegExp][] = [
      [22, 40, /gives size 40 but the central directory 48/],
      [18, 40, /gives compressed size 40 but the central directory 48/],
      [14, 0x1234, /gives CRC-32 4660 but the central directory/],
      [8, 8, /gives method 8 but the central directory 0/],
    ];
    for (const [field, value, message] of cases) {
      const bytes = archive();
      const at = await localHeader(bytes, 'archive/data/0');
      const view = new DataView(bytes.buffer);
      if (field === 8) view.setUint16(at + field, value, true);
      else view.setUint32(at + field, value, true);
      const error = await failure(open(bytes));
      expect((error as CheckpointFormatError).code).toBe('bad-zip');
      expect(error.message).toMatch(message);
    }
  });

  it('an entry whose data would run into the next entry', async () => {
    const bytes = archive();
    const directory = await readZipDirectory(new MemorySource(bytes));
    const entry = directory.entries.get('archive/data/0')!;
    // Grow the entry by 8 bytes in both the central directory and its local header.
    const view = new DataView(bytes.buffer);
    let central = directory.directoryOffset;
    while (new TextDecoder().decode(bytes.subarray(central + 46, central + 46 + view.getUint16(central + 28, true))) !== entry.name) {
      central += 46 + view.getUint16(central + 28, true) + view.getUint16(central + 30, true) + view.getUint16(central + 32, true);
    }
    for (const [base, fields] of [[central, [20, 24]], [entry.localHeaderOffset, [18, 22]]] as const) {
      for (const field of fields) view.setUint32(base + field, entry.size + 8, true);
    }
    const error = await failure(open(bytes));
    expect(error.message).toMatch(/zip entry archive\/data\/0 \(56 bytes at \d+\) runs into the next entry/);
  });

  it('a directory with more bytes than its entry count accounts for', async () => {
    const bytes = archive();
    const view = new DataView(bytes.buffer);
    const eocd = bytes.byteLength - 22;
    view.setUint16(eocd + 8, view.getUint16(eocd + 8, true) - 1, true);
    view.setUint16(eocd + 10, view.getUint16(eocd + 10, true) - 1, true);
    const error = await failure(open(bytes));
    expect(error.message).toMatch(/zip directory has \d+ bytes after its 2 entries: the entry count is wrong/);
  });
});
