import { openAsBlob } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError, ModelFormatError, NonFiniteWeightError } from '../src/errors';
import { openCheckpoint, type Checkpoint } from '../src/io/checkpoint';
import { f32ArrayToF16, packF16Pairs } from '../src/io/fp16';
import { BlobSource, MemorySource } from '../src/io/source';
import { openFileSource, type FileSource } from '../src/io/source-node';
import { EntryConverter, type WeightEntry } from '../src/model/weights';
import {
  buildSafetensors,
  concat,
  f32Bytes,
  GOLDEN_SAFETENSORS,
  GOLDEN_TORCH,
  stateDictPickle,
  torchArchive,
} from './io-fixtures';

/** OpenCLIP initialises logit_scale to ln(1/0.07); the tiny golden model was saved without training it. */
const INITIAL_LOGIT_SCALE = Math.fround(Math.log(1 / 0.07));

let safetensorsFile: FileSource;
let torchFile: FileSource;
let fromSafetensors: Checkpoint;
let fromTorch: Checkpoint;

beforeAll(async () => {
  safetensorsFile = await openFileSource(GOLDEN_SAFETENSORS);
  torchFile = await openFileSource(GOLDEN_TORCH);
  fromSafetensors = await openCheckpoint(safetensorsFile);
  fromTorch = await openCheckpoint(torchFile);
});

afterAll(async () => {
  await safetensorsFile.close();
  await torchFile.close();
});

describe('golden coca-tiny checkpoints', () => {
  it('detects each format from its magic bytes', () => {
    expect(fromSafetensors.kind).toBe('safetensors');
    expect(fromTorch.kind).toBe('torch');
  });

  it('index the same 129 float32 tensors with the same shapes (torch keeps logit_scale 0-d)', () => {
    expect(fromSafetensors.tensors.size).toBe(129);
    expect([...fromTorch.tensors.keys()].sort()).toEqual([...fromSafetensors.tensors.keys()].sort());
    for (const [name, info] of fromSafetensors.tensors) {
      const other = fromTorch.tensors.get(name)!;
      expect(info.dtype, name).toBe('F32');
      expect(other.dtype, name).toBe('F32');
      expect(other.shape, name).toEqual(name === 'logit_scale' ? [] : info.shape);
      expect(info.byteLength, name).toBe(info.shape.reduce((a, b) => a * b, 1) * 4);
      expect(other.byteLength, name).toBe(info.byteLength);
    }
    expect(fromSafetensors.tensors.get('text_decoder.text_projection')!.shape).toEqual([48, 49408]);
  });

  it('agree bit for bit on every tensor', async () => {
    const differing: string[] = [];
    for (const name of fromSafetensors.tensors.keys()) {
      const [a, b] = await Promise.all([fromSafetensors.readBytes(name), fromTorch.readBytes(name)]);
      if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) differing.push(name);
    }
    expect(differing).toEqual([]);
  });

  it('read logit_scale as its known initial value, in fp32 and packed fp16', async () => {
    for (const checkpoint of [fromSafetensors, fromTorch]) {
      expect(Array.from(await checkpoint.readF32('logit_scale'))).toEqual([INITIAL_LOGIT_SCALE]);
      // fp16(2.65926) = 0x4152 (numpy agrees); a single element is padded with +0 in the high half.
      expect(Array.from(await checkpoint.readPackedF16('logit_scale'))).toEqual([0x00004152]);
    }
  });

  it('packs an fp32 tensor as rounded fp16 pairs, equal across formats', async () => {
    const name = 'visual.conv1.weight';
    const values = await fromSafetensors.readF32(name);
    const packed = await fromTorch.readPackedF16(name);
    expect(packed).toEqual(packF16Pairs(f32ArrayToF16(values)));
    expect(packed.length).toBe(values.length / 2);
  });

  it('reads the same bytes through a Blob (a File in browsers)', async () => {
    const blobCheckpoint = await openCheckpoint(new BlobSource(await openAsBlob(GOLDEN_TORCH), 'model.bin'));
    const name = 'visual.attn_pool.query';
    expect(await blobCheckpoint.readF32(name)).toEqual(await fromSafetensors.readF32(name));
  });

  it('names a tensor that is not there', async () => {
    await expect(fromTorch.readF32('visual.nope')).rejects.toThrow(ModelFormatError);
    await expect(fromTorch.readF32('visual.nope')).rejects.toThrow(/has no tensor named visual\.nope/);
  });
});

describe('dtype conversion on read', () => {
  it('widens F16 and BF16 to F32 and packs them as fp16', async () => {
    const f16 = new Uint8Array(Uint16Array.from([0x3c00, 0xc000, 0x7bff]).buffer);
    const bf16 = new Uint8Array(Uint16Array.from([0x3f80, 0xc0a0, 0x3f81, 0x4780]).buffer);
    const file = buildSafetensors(
      {
        half: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
        brain: { dtype: 'BF16', shape: [2, 2], data_offsets: [6, 14] },
      },
      concat([f16, bf16]),
    );
    const checkpoint = await openCheckpoint(new MemorySource(file));
    expect(Array.from(await checkpoint.readF32('half'))).toEqual([1, -2, 65504]);
    expect(Array.from(await checkpoint.readPackedF16('half'))).toEqual([0xc0003c00, 0x00007bff]);
    // bf16 0x3f81 = 1 + 2^-7 (exact in fp16: 0x3c08); 0x4780 = 65536 overflows fp16 to inf.
    expect(Array.from(await checkpoint.readF32('brain'))).toEqual([1, -5, 1 + 2 ** -7, 65536]);
    expect(Array.from(await checkpoint.readPackedF16('brain'))).toEqual([0xc5003c00, 0x7c003c08]);
  });
});

describe('state dict key conventions', () => {
  const weights = f32Bytes([1, 2, 3, 4]);

  it('strips a DataParallel module. prefix', async () => {
    const pickle = stateDictPickle([
      { key: 'module.visual.proj', storageKey: '0', storageNumel: 4, shape: [2, 2] },
      { key: 'module.logit_scale', storageKey: '0', storageNumel: 4, offset: 3, shape: [] },
    ]);
    const checkpoint = await openCheckpoint(new MemorySource(torchArchive(pickle, { '0': weights })));
    expect([...checkpoint.tensors.keys()]).toEqual(['visual.proj', 'logit_scale']);
    expect(checkpoint.tensors.get('visual.proj')!.name).toBe('visual.proj');
    expect(Array.from(await checkpoint.readF32('logit_scale'))).toEqual([4]);
  });

  it('keeps names when only some carry the prefix', async () => {
    const pickle = stateDictPickle([
      { key: 'module.a', storageKey: '0', storageNumel: 4, shape: [2] },
      { key: 'b', storageKey: '0', storageNumel: 4, offset: 2, shape: [2] },
    ]);
    const checkpoint = await openCheckpoint(new MemorySource(torchArchive(pickle, { '0': weights })));
    expect([...checkpoint.tensors.keys()]).toEqual(['module.a', 'b']);
    expect(Array.from(await checkpoint.readF32('b'))).toEqual([3, 4]);
  });

  it('reads a {"state_dict": ...} training checkpoint', async () => {
    const pickle = stateDictPickle([{ key: 'module.w', storageKey: '7', storageNumel: 4, shape: [4] }], {
      ordered: true,
      wrapKey: 'state_dict',
    });
    const checkpoint = await openCheckpoint(new MemorySource(torchArchive(pickle, { '7': weights })));
    expect(Array.from(await checkpoint.readF32('w'))).toEqual([1, 2, 3, 4]);
  });
});

describe('format detection', () => {
  it('rejects a file that is neither format', async () => {
    const error = await openCheckpoint(new MemorySource(new TextEncoder().encode('<!DOCTYPE html><html>'), 'page.html')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointFormatError);
    expect((error as CheckpointFormatError).code).toBe('unknown-format');
    expect((error as Error).message).toMatch(/page\.html is neither safetensors nor a PyTorch zip checkpoint/);
  });
});

describe('non-finite weights are corruption', () => {
  const NAN_AT = 5;

  /** A checkpoint with one [4, 4] f32 tensor `w` holding `bad` at element NAN_AT, and logit_scale. */
  async function checkpointWith(bad: number, logitScale = 2): Promise<Checkpoint> {
    const values = Array.from({ length: 16 }, (_, i) => (i === NAN_AT ? bad : i / 4));
    const file = buildSafetensors(
      {
        w: { dtype: 'F32', shape: [4, 4], data_offsets: [0, 64] },
        logit_scale: { dtype: 'F32', shape: [], data_offsets: [64, 68] },
      },
      concat([f32Bytes(values), f32Bytes([logitScale])]),
    );
    return openCheckpoint(new MemorySource(file, 'bad.safetensors'));
  }

  const entry = (dtype: WeightEntry['dtype'], transform: WeightEntry['transform'] = { kind: 'copy' }): WeightEntry => ({
    name: 'w',
    source: 'w',
    shape: [4, 4],
    dtype,
    transform,
    byteOffset: 0,
    byteLength: dtype === 'f32' ? 64 : 32,
  });

  for (const bad of [NaN, Infinity, -Infinity]) {
    it(`${bad} fails whole-tensor and ranged conversion, naming the tensor and the element`, async () => {
      const converter = new EntryConverter(await checkpointWith(bad));
      for (const convert of [
        () => converter.convert(entry('f32')),
        () => converter.convert(entry('f16x2', { kind: 'transpose', rows: 4, cols: 4 })),
        // Stored bytes [16, 32) of an f32 entry are elements 4…7.
        () => converter.convertRange(entry('f32'), 16, 32),
      ]) {
        const error = await convert().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(NonFiniteWeightError);
        expect(error).toMatchObject({ tensor: 'w', index: NAN_AT, code: 'non-finite' });
        expect((error as Error).message).toMatch(new RegExp(`bad\\.safetensors: tensor w holds at element ${NAN_AT} the value ${bad}: the checkpoint is corrupt`));
      }
      // A range that does not hold the bad element converts.
      expect(Array.from(new Float32Array((await converter.convertRange(entry('f32'), 0, 16)).slice().buffer))).toEqual([0, 0.25, 0.5, 0.75]);
    });
  }

  it('a value beyond fp16 fails as fp16 weights (with a hint) and loads exactly as fp32', async () => {
    const converter = new EntryConverter(await checkpointWith(70000));
    const error = await converter.convert(entry('f16x2')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteWeightError);
    expect((error as Error).message).toMatch(/holds at element 5 the value 70000, beyond the ±65504 of fp16 weights: load it with dtype 'fp32'/);
    const asF32 = new Float32Array((await converter.convert(entry('f32'))).slice().buffer);
    expect(asF32[NAN_AT]).toBe(70000);
    // 65504 is the largest half and stays finite.
    const largest = new EntryConverter(await checkpointWith(65504));
    expect((await largest.convert(entry('f16x2'))).byteLength).toBe(32);
  });

  it('a NaN logit_scale', async () => {
    const converter = new EntryConverter(await checkpointWith(1, NaN));
    await expect(converter.logitScale()).rejects.toThrow(/tensor logit_scale holds at element 0 the value NaN/);
    expect(await new EntryConverter(await checkpointWith(1, 2)).logitScale()).toBe(Math.exp(2));
  });
});
