import { openAsBlob } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError, ModelFormatError } from '../src/errors';
import { openCheckpoint, type Checkpoint } from '../src/io/checkpoint';
import { f32ArrayToF16, packF16Pairs } from '../src/io/fp16';
import { BlobSource, MemorySource } from '../src/io/source';
import { openFileSource, type FileSource } from '../src/io/source-node';
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
