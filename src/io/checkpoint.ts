// One interface over safetensors and PyTorch .bin checkpoints: an index of tensors (name, dtype, shape,
// byte range) read from the file's header, and per-tensor reads that fetch only that tensor's bytes.

import { CheckpointFormatError, ModelFormatError } from '../errors';
import { bf16ArrayToF32, f16ArrayToF32, packF16Pairs, packF32AsF16Pairs } from './fp16';
import { readSafetensorsIndex } from './safetensors';
import type { ByteSource } from './source';
import type { IndexOptions, TensorInfo } from './tensor-info';
import { readTorchIndex } from './torch-zip';

export type { TensorDtype, TensorInfo, IndexOptions } from './tensor-info';

export type CheckpointKind = 'safetensors' | 'torch';

export interface Checkpoint {
  readonly kind: CheckpointKind;
  /**
   * The file, for ranged reads of tensor bytes (TensorInfo.byteOffset/byteLength). For a .bin this reads
   * through CRC-32 checks of the storages (zip-verify.ts), so read tensor bytes through it, not the file.
   */
  readonly source: ByteSource;
  /** Every float tensor, by its state-dict name (a DataParallel `module.` prefix removed). */
  readonly tensors: Map<string, TensorInfo>;
  /** The tensor's raw little-endian bytes, as stored. */
  readBytes(name: string): Promise<Uint8Array>;
  /** The tensor converted to fp32. */
  readF32(name: string): Promise<Float32Array>;
  /**
   * The tensor as fp16 pairs packed into u32 words (element 2i in the low half), the layout WGSL
   * `unpack2x16float` reads. fp32 and bf16 are rounded to nearest even; an odd count is padded with 0.
   */
  readPackedF16(name: string): Promise<Uint32Array>;
}

/** A zip local file header, 'PK\x03\x04'. */
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/** Opens a checkpoint, detecting the format from its first bytes unless `kind` is given. */
export async function openCheckpoint(source: ByteSource, kind?: CheckpointKind, options: IndexOptions = {}): Promise<Checkpoint> {
  const format = kind ?? (await detectKind(source));
  // A .bin's tensors are read through CRC-32 checks; safetensors has no checksums to check.
  const index = format === 'safetensors' ? { tensors: (await readSafetensorsIndex(source, options)).tensors, source } : await readTorchIndex(source, options);
  return new IndexedCheckpoint(format, index.source, stripDataParallelPrefix(index.tensors));
}

async function detectKind(source: ByteSource): Promise<CheckpointKind> {
  if (source.size >= 4) {
    const magic = await source.read(0, 4);
    if (ZIP_MAGIC.every((byte, i) => magic[i] === byte)) return 'torch';
  }
  // safetensors starts with a u64 header length, then '{'.
  if (source.size >= 9 && (await source.read(8, 1))[0] === 0x7b) return 'safetensors';
  throw new CheckpointFormatError(
    'unknown-format',
    `${source.name} is neither safetensors nor a PyTorch zip checkpoint (legacy pre-1.6 torch.save files are not supported)`,
  );
}

/** Checkpoints saved from a DataParallel-wrapped model prefix every key with `module.`. */
function stripDataParallelPrefix(tensors: Map<string, TensorInfo>): Map<string, TensorInfo> {
  const prefix = 'module.';
  if (tensors.size === 0 || ![...tensors.keys()].every((name) => name.startsWith(prefix))) return tensors;
  const stripped = new Map<string, TensorInfo>();
  for (const [name, info] of tensors) {
    const bare = name.slice(prefix.length);
    stripped.set(bare, { ...info, name: bare });
  }
  return stripped;
}

// Typed-array views use the host's byte order; every browser and Node platform we target is little-endian,
// like the files.
class IndexedCheckpoint implements Checkpoint {
  constructor(
    readonly kind: CheckpointKind,
    readonly source: ByteSource,
    readonly tensors: Map<string, TensorInfo>,
  ) {}

  private info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new ModelFormatError(`${this.source.name} has no tensor named ${name}`, name);
    return info;
  }

  readBytes(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    return this.source.read(info.byteOffset, info.byteLength);
  }

  async readF32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    const bytes = await this.readBytes(name);
    switch (info.dtype) {
      case 'F32':
        return new Float32Array(aligned(bytes, 4));
      case 'F16':
        return f16ArrayToF32(new Uint16Array(aligned(bytes, 2)));
      case 'BF16':
        return bf16ArrayToF32(new Uint16Array(aligned(bytes, 2)));
    }
  }

  async readPackedF16(name: string): Promise<Uint32Array> {
    const info = this.info(name);
    if (info.dtype === 'F16') return packF16Pairs(new Uint16Array(aligned(await this.readBytes(name), 2)));
    return packF32AsF16Pairs(await this.readF32(name));
  }
}

/** An ArrayBuffer holding exactly `bytes`, so typed views of `elementBytes` need no further copy. */
function aligned(bytes: Uint8Array, elementBytes: number): ArrayBuffer {
  if (bytes.byteLength % elementBytes !== 0) {
    throw new CheckpointFormatError('size-mismatch', `tensor byte length ${bytes.byteLength} is not a multiple of ${elementBytes}`);
  }
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer;
}
