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
