// Builders for hand-made checkpoint files (zip archives, pickles, safetensors) used by the io tests,
// and paths to the golden checkpoints.

import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';
import type { ByteSource } from '../src/io/source';

export const GOLDEN_DIR = fileURLToPath(new URL('../../shared/golden/coca-tiny/', import.meta.url));
export const GOLDEN_SAFETENSORS = `${GOLDEN_DIR}open_clip_model.safetensors`;
export const GOLDEN_TORCH = `${GOLDEN_DIR}open_clip_pytorch_model.bin`;
export const GOLDEN_CONFIG = `${GOLDEN_DIR}open_clip_config.json`;

export function concat(parts: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.byteLength, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.byteLength;
  }
  return out;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

function le(bytes: number, value: number): number[] {
  const out: number[] = [];
  let v = value;
  for (let i = 0; i < bytes; i++) {
    out.push(v % 256);
    v = Math.floor(v / 256);
  }
  return out;
}

/** A source that pretends the file ends at `size` (an interrupted download). */
export function truncatedSource(inner: ByteSource, size: number): ByteSource {
  return {
    size,
    name: `${inner.name} (cut at ${size})`,
    read: (offset, length) => {
      if (offset + length > size) throw new RangeError(`read past the cut: ${offset}+${length} > ${size}`);
      return inner.read(offset, length);
    },
  };
}

// ---- zip ----

export interface ZipInput {
  name: string;
  data: Uint8Array;
  /** 8 stores the data deflated. */
  method?: 0 | 8;
  /** Extra field bytes in the local header only (PyTorch pads here to align data to 64 bytes). */
  localPadding?: number;
  /** A size the central directory claims instead of the real one (needs zip64 above 4 GB). */
  declaredSize?: number;
}

/**
 * Writes a zip like PyTorch's: stored entries, sizes in the central directory, and (with zip64) a ZIP64
 * end record plus locator and saturated 32-bit fields resolved through ZIP64 extra fields.
 */
export function buildZip(inputs: readonly ZipInput[], options: { zip64?: boolean } = {}): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const input of inputs) {
    const method = input.method ?? 0;
    const data = method === 8 ? new Uint8Array(deflateRawSync(input.data)) : input.data;
    const name = ascii(input.name);
    const padding = input.localPadding ?? 0;
    const extra = padding > 0 ? [...le(2, 0x4246), ...le(2, padding - 4), ...new Array<number>(padding - 4).fill(0x5a)] : [];
    const crc = crc32(input.data);
    const local = concat([
      le(4, 0x04034b50), le(2, 20), le(2, 0), le(2, method), le(2, 0), le(2, 0), le(4, crc),
      le(4, data.byteLength), le(4, input.data.byteLength), le(2, name.byteLength), le(2, extra.length),
      name, extra, data,
    ]);
    const size = input.declaredSize ?? input.data.byteLength;
    const storedSize = input.declaredSize ?? data.byteLength;
    const zip64Extra = options.zip64 ? [...le(2, 1), ...le(2, 24), ...le(8, size), ...le(8, storedSize), ...le(8, offset)] : [];
    const saturated = (value: number): number => (options.zip64 ? 0xffffffff : value);
    centrals.push(
      concat([
        le(4, 0x02014b50), le(2, 20), le(2, 20), le(2, 0), le(2, method), le(2, 0), le(2, 0), le(4, crc),
        le(4, saturated(storedSize)), le(4, saturated(size)), le(2, name.byteLength),
        le(2, zip64Extra.length), le(2, 0), le(2, 0), le(2, 0), le(4, 0), le(4, saturated(offset)),
        name, zip64Extra,
      ]),
    );
    locals.push(local);
    offset += local.byteLength;
  }
  const directory = concat(centrals);
  const tail: (Uint8Array | number[])[] = [];
  if (options.zip64) {
    const recordOffset = offset + directory.byteLength;
    tail.push(
      concat([
        le(4, 0x06064b50), le(8, 44), le(2, 45), le(2, 45), le(4, 0), le(4, 0), le(8, inputs.length),
        le(8, inputs.length), le(8, directory.byteLength), le(8, offset),
      ]),
      concat([le(4, 0x07064b50), le(4, 0), le(8, recordOffset), le(4, 1)]),
    );
  }
  const count = options.zip64 ? 0xffff : inputs.length;
  tail.push(
    concat([
      le(4, 0x06054b50), le(2, 0), le(2, 0), le(2, count), le(2, count),
      le(4, options.zip64 ? 0xffffffff : directory.byteLength), le(4, options.zip64 ? 0xffffffff : offset), le(2, 0),
    ]),
  );
  return concat([...locals, directory, ...tail]);
}

// ---- pickle (protocol 2, the opcodes torch.save emits) ----

export type PickleBytes = number[];

export const P = {
  proto: (): PickleBytes => [0x80, 2],
  stop: (): PickleBytes => [0x2e],
  mark: (): PickleBytes => [0x28],
  emptyDict: (): PickleBytes => [0x7d],
  emptyTuple: (): PickleBytes => [0x29],
  tuple: (): PickleBytes => [0x74],
  reduce: (): PickleBytes => [0x52],
  setitems: (): PickleBytes => [0x75],
  setitem: (): PickleBytes => [0x73],
  build: (): PickleBytes => [0x62],
  binpersid: (): PickleBytes => [0x51],
  newFalse: (): PickleBytes => [0x89],
  none: (): PickleBytes => [0x4e],
  str: (s: string): PickleBytes => {
    const bytes = ascii(s);
    return [0x58, ...le(4, bytes.byteLength), ...bytes];
  },
  int: (n: number): PickleBytes => (n < 256 ? [0x4b, n] : n < 65536 ? [0x4d, ...le(2, n)] : [0x4a, ...le(4, n)]),
  global: (module: string, name: string): PickleBytes => [0x63, ...ascii(`${module}\n${name}\n`)],
};

export function tupleOf(...items: PickleBytes[]): PickleBytes {
  return [...P.mark(), ...items.flat(), ...P.tuple()];
}

export interface PickledTensor {
  key: string;
  storageKey: string;
  storageType?: string;
  storageNumel: number;
  offset?: number;
  shape: number[];
  stride?: number[];
  /** Wrap in torch._utils._rebuild_parameter. */
  parameter?: boolean;
}

export function contiguousStride(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) stride[i] = stride[i + 1]! * shape[i + 1]!;
  return stride;
}

/** The pickle of one tensor, as torch.save writes it. */
export function tensorPickle(t: PickledTensor): PickleBytes {
  const storage = [
    ...tupleOf(P.str('storage'), P.global('torch', t.storageType ?? 'FloatStorage'), P.str(t.storageKey), P.str('cpu'), P.int(t.storageNumel)),
    ...P.binpersid(),
  ];
  const tensor = [
    ...P.global('torch._utils', '_rebuild_tensor_v2'),
    ...tupleOf(
      storage,
      P.int(t.offset ?? 0),
      tupleOf(...t.shape.map(P.int)),
      tupleOf(...(t.stride ?? contiguousStride(t.shape)).map(P.int)),
      P.newFalse(),
      [...P.global('collections', 'OrderedDict'), ...P.emptyTuple(), ...P.reduce()],
    ),
    ...P.reduce(),
  ];
  if (!t.parameter) return tensor;
  return [
    ...P.global('torch._utils', '_rebuild_parameter'),
    ...tupleOf(tensor, P.newFalse(), [...P.global('collections', 'OrderedDict'), ...P.emptyTuple(), ...P.reduce()]),
    ...P.reduce(),
  ];
}

/** A state dict pickle: an OrderedDict (with a `_metadata` BUILD, as torch does) or a plain dict. */
export function stateDictPickle(tensors: readonly PickledTensor[], options: { ordered?: boolean; wrapKey?: string } = {}): Uint8Array {
  const items = tensors.flatMap((t) => [...P.str(t.key), ...tensorPickle(t)]);
  const dict = options.ordered
    ? [
        ...P.global('collections', 'OrderedDict'), ...P.emptyTuple(), ...P.reduce(),
        ...P.mark(), ...items, ...P.setitems(),
        ...P.emptyDict(), ...P.str('_metadata'), ...P.emptyDict(), ...P.setitem(), ...P.build(),
      ]
    : [...P.emptyDict(), ...P.mark(), ...items, ...P.setitems()];
  const root = options.wrapKey
    ? [...P.emptyDict(), ...P.mark(), ...P.str('epoch'), ...P.int(3), ...P.str(options.wrapKey), ...dict, ...P.setitems()]
    : dict;
  return Uint8Array.from([...P.proto(), ...root, ...P.stop()]);
}

/** A torch.save-style archive holding `pickle` and the given storages. */
export function torchArchive(pickle: Uint8Array, storages: Record<string, Uint8Array>, options: { zip64?: boolean; extra?: ZipInput[] } = {}): Uint8Array {
  return buildZip(
    [
      { name: 'archive/data.pkl', data: pickle, localPadding: 36 },
      ...Object.entries(storages).map(([key, data]) => ({ name: `archive/data/${key}`, data, localPadding: 20 })),
      { name: 'archive/version', data: ascii('3\n') },
      ...(options.extra ?? []),
    ],
    { zip64: options.zip64 },
  );
}

export function f32Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

// ---- safetensors ----

export function buildSafetensors(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = ascii(JSON.stringify(header));
  return concat([le(8, json.byteLength), json, data]);
}
