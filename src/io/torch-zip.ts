// PyTorch's torch.save format (since 1.6): a stored zip with `<archive>/data.pkl` (the state dict as a
// pickle whose tensors point at storages by key) and one entry `<archive>/data/<key>` per storage. Only the
// directory and the pickle are read here (both CRC-checked); tensor bytes stay in the file until someone
// asks for them, and are then read through a source that checks each storage's CRC-32 (zip-verify.ts).

import { CheckpointFormatError, UnsupportedDtypeError } from '../errors';
import { stateDictTensors, unpickle, type TensorRef } from './pickle';
import type { ByteSource } from './source';
import { DTYPE_BYTES, elementCount, isTensorDtype, type IndexOptions, type TensorInfo } from './tensor-info';
import { locateEntryData, readZipDirectory, type ZipDirectory, type ZipEntry } from './zip';
import { checkEntryCrc, CrcCheckedSource, type CheckedEntry } from './zip-verify';

/** A state dict's pickle is about 100 bytes per tensor; megabytes would be something else entirely. */
const MAX_PICKLE_BYTES = 64 * 1024 * 1024;

export interface TorchIndex {
  tensors: Map<string, TensorInfo>;
  /** The file, read through CRC-32 checks of every storage a tensor uses: read tensor bytes through this. */
  source: ByteSource;
}

/** Reads the tensor index of a torch.save zip archive. */
export async function readTorchIndex(source: ByteSource, options: IndexOptions = {}): Promise<TorchIndex> {
  const directory = await readZipDirectory(source);
  const pickleEntry = findPickle(directory, source.name);
  const archive = pickleEntry.name.slice(0, -'/data.pkl'.length);
  if (pickleEntry.size > MAX_PICKLE_BYTES) {
    throw new CheckpointFormatError('bad-pickle', `${source.name}: ${pickleEntry.name} is ${pickleEntry.size} bytes, too large for a state dict`);
  }

  const byteorderEntry = directory.entries.get(`${archive}/byteorder`);
  const metaEntries = byteorderEntry ? [pickleEntry, byteorderEntry] : [pickleEntry];
  const metaOffsets = await locateEntryData(source, directory, metaEntries);
  if (byteorderEntry) {
    const orderBytes = await source.read(metaOffsets.get(byteorderEntry.name)!, byteorderEntry.size);
    checkEntryCrc(source.name, byteorderEntry, orderBytes);
    const order = new TextDecoder().decode(orderBytes).trim();
    if (order !== 'little') {
      throw new CheckpointFormatError('big-endian', `${source.name} was saved on a ${order}-endian machine; only little-endian checkpoints are read`);
    }
  }
  const pickleBytes = await source.read(metaOffsets.get(pickleEntry.name)!, pickleEntry.size);
  checkEntryCrc(source.name, pickleEntry, pickleBytes);
  const refs = stateDictTensors(unpickle(pickleBytes, `${source.name}:${pickleEntry.name}`), source.name);

  const skip = new Set(options.skipDtypes ?? []);
  const kept: [string, TensorRef][] = [];
  for (const [name, ref] of refs) {
    if (!isTensorDtype(ref.storage.dtype)) {
      if (skip.has(ref.storage.dtype)) continue;
      throw new UnsupportedDtypeError(
        name,
        ref.storage.dtype,
        `${source.name}: tensor ${name} has dtype ${ref.storage.dtype}; only float32, float16 and bfloat16 are supported`,
      );
    }
    checkContiguous(name, ref, source.name);
    kept.push([name, ref]);
  }

  const storageEntries = new Map<string, ZipEntry>();
  for (const [name, ref] of kept) {
    const entryName = `${archive}/data/${ref.storage.key}`;
    const entry = directory.entries.get(entryName);
    if (!entry) {
      throw new CheckpointFormatError('missing-storage', `${source.name}: tensor ${name} needs storage ${entryName}, which the archive lacks`);
    }
    storageEntries.set(entryName, entry);
  }
  const dataOffsets = await locateEntryData(source, directory, [...storageEntries.values()]);

  const tensors = new Map<string, TensorInfo>();
  const checked = new Map<string, CheckedEntry>();
  for (const [name, ref] of kept) {
    const dtype = ref.storage.dtype as keyof typeof DTYPE_BYTES;
    const elementBytes = DTYPE_BYTES[dtype];
    const entryName = `${archive}/data/${ref.storage.key}`;
    const entry = storageEntries.get(entryName)!;
    if (entry.size < ref.storage.numel * elementBytes) {
      throw new CheckpointFormatError(
        'size-mismatch',
        `${source.name}: storage ${entryName} holds ${entry.size} bytes but declares ${ref.storage.numel} ${dtype} elements`,
      );
    }
    const count = elementCount(ref.shape as number[], name);
    if (ref.storageOffset + count > ref.storage.numel) {
      throw new CheckpointFormatError(
        'offset-out-of-range',
        `${source.name}: tensor ${name} [${ref.shape.join(', ')}] at element ${ref.storageOffset} runs past its storage of ${ref.storage.numel}`,
      );
    }
    const dataOffset = dataOffsets.get(entryName)!;
    const info: TensorInfo = {
      name,
      dtype,
      shape: [...ref.shape],
      byteOffset: dataOffset + ref.storageOffset * elementBytes,
      byteLength: count * elementBytes,
    };
    tensors.set(name, info);
    // The storage's CRC is complete once its last used byte has been read (zip-verify.ts reads any tail).
    const usedEnd = Math.max(checked.get(entryName)?.usedEnd ?? dataOffset, info.byteOffset + info.byteLength);
    checked.set(entryName, { name: entryName, dataOffset, size: entry.size, crc32: entry.crc32, usedEnd });
  }
  return { tensors, source: new CrcCheckedSource(source, [...checked.values()]) };
}

function findPickle(directory: ZipDirectory, sourceName: string): ZipEntry {
  const candidates = [...directory.entries.values()].filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (candidates.length !== 1) {
    throw new CheckpointFormatError(
      'bad-zip',
      `${sourceName}: expected one <archive>/data.pkl in the zip, found ${candidates.length}; not a torch.save checkpoint`,
    );
  }
  return candidates[0]!;
}

/** Row-major strides are the only layout read in place; size-1 dimensions may carry any stride. */
function checkContiguous(name: string, ref: TensorRef, sourceName: string): void {
  let expected = 1;
  for (let dim = ref.shape.length - 1; dim >= 0; dim--) {
    const size = ref.shape[dim]!;
    if (size !== 1 && ref.stride[dim] !== expected) {
      throw new CheckpointFormatError(
        'non-contiguous',
        `${sourceName}: tensor ${name} [${ref.shape.join(', ')}] has strides (${ref.stride.join(', ')}), not row-major ` +
          'contiguous; save it with tensor.contiguous()',
      );
    }
    expected *= size;
  }
}
