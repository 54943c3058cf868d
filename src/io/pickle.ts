// A pickle reader for PyTorch state dicts, and nothing more. It interprets the opcodes torch.save emits
// for a dict of tensors, builds plain values, and refuses everything else. No global is ever imported or
// called: GLOBAL only names one of a few allow-listed constructors, which are interpreted here by hand.

import { CheckpointFormatError, PickleError, TruncatedFileError, UnsafePickleError } from '../errors';

export class PickleTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

export class PickleDict {
  readonly entries = new Map<string | number, PickleValue>();
}

/** A reference to an allow-listed Python global (never resolved to anything executable). */
export class PickleGlobal {
  constructor(readonly fullName: AllowedGlobal) {}
}

/** A tensor storage, named by the persistent id ('storage', type, key, location, numel). */
export class StorageRef {
  constructor(
    /** Element dtype in safetensors' spelling (F32, F16, BF16, I64, ...). */
    readonly dtype: string,
    /** The archive entry `<archive>/data/<key>` holds the storage's bytes. */
    readonly key: string,
    readonly location: string,
    /** Elements in the storage. */
    readonly numel: number,
  ) {}
}

/** The result of torch._utils._rebuild_tensor_v2: a strided view into a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

export type PickleValue =
  | null
  | boolean
  | number
  | string
  | PickleValue[]
  | PickleTuple
  | PickleDict
  | PickleGlobal
  | StorageRef
  | TensorRef;

/** Storage classes: inert type markers that say a storage's dtype. */
const STORAGE_DTYPES = {
  'torch.FloatStorage': 'F32',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
  // Readable as markers so an integer buffer gets a dtype error naming the tensor, not a safety error.
  'torch.DoubleStorage': 'F64',
  'torch.LongStorage': 'I64',
  'torch.IntStorage': 'I32',
  'torch.ShortStorage': 'I16',
  'torch.CharStorage': 'I8',
  'torch.ByteStorage': 'U8',
  'torch.BoolStorage': 'BOOL',
} as const;

const CALLABLE_GLOBALS = ['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter'] as const;

type AllowedGlobal = (typeof CALLABLE_GLOBALS)[number] | keyof typeof STORAGE_DTYPES;

function isAllowedGlobal(name: string): name is AllowedGlobal {
  return (CALLABLE_GLOBALS as readonly string[]).includes(name) || Object.hasOwn(STORAGE_DTYPES, name);
}

/** MARKs open at once; a state dict needs about 3, so anything deep is a malformed or hostile pickle. */
const MAX_MARK_DEPTH = 1000;
/** Longest module or name of a GLOBAL; real ones are under 40 characters. */
const MAX_GLOBAL_NAME = 256;

const OP = {
  PROTO: 0x80,
  STOP: 0x2e, // .
  MARK: 0x28, // (
  EMPTY_DICT: 0x7d, // }
  EMPTY_LIST: 0x5d, // ]
  EMPTY_TUPLE: 0x29, // )
  TUPLE: 0x74, // t
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  BINGET: 0x68, // h
  LONG_BINGET: 0x6a, // j
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  BININT2: 0x4d, // M
  LONG1: 0x8a,
  BINFLOAT: 0x47, // G: optimizer and scaler entries of training checkpoints carry floats
  BINUNICODE: 0x58, // X
  SHORT_BINUNICODE: 0x8c,
  BINSTRING: 0x54, // T
  SHORT_BINSTRING: 0x55, // U
  NONE: 0x4e, // N
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  SETITEM: 0x73, // s
  SETITEMS: 0x75, // u
  APPEND: 0x61, // a
  APPENDS: 0x65, // e
  GLOBAL: 0x63, // c
  REDUCE: 0x52, // R
  BINPERSID: 0x51, // Q
  BUILD: 0x62, // b
} as const;

const OPCODE_NAMES = new Map<number, string>([
  ...Object.entries(OP).map(([name, code]) => [code, name] as [number, string]),
  ...(
    [
      [0x69, 'INST'], [0x6f, 'OBJ'], [0x81, 'NEWOBJ'], [0x92, 'NEWOBJ_EX'], [0x93, 'STACK_GLOBAL'],
      [0x94, 'MEMOIZE'], [0x95, 'FRAME'], [0x49, 'INT'], [0x4c, 'LONG'], [0x46, 'FLOAT'], [0x53, 'STRING'],
      [0x56, 'UNICODE'], [0x50, 'PERSID'], [0x70, 'PUT'], [0x67, 'GET'], [0x64, 'DICT'], [0x6c, 'LIST'],
      [0x30, 'POP'], [0x31, 'POP_MARK'], [0x32, 'DUP'], [0x8b, 'LONG4'], [0x42, 'BINBYTES'],
      [0x43, 'SHORT_BINBYTES'], [0x8d, 'BINUNICODE8'], [0x8e, 'BINBYTES8'], [0x8f, 'EMPTY_SET'],
      [0x90, 'ADDITEMS'], [0x91, 'FROZENSET'], [0x96, 'BYTEARRAY8'], [0x97, 'NEXT_BUFFER'],
      [0x98, 'READONLY_BUFFER'], [0x82, 'EXT1'], [0x83, 'EXT2'], [0x84, 'EXT4'],
    ] as [number, string][]
  ),
]);

function opcodeLabel(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  const name = OPCODE_NAMES.get(code);
  return name ? `${name} (${hex})` : hex;
}

/** Short description of a value for messages; never recurses, so hostile nesting cannot blow the stack. */
export function describePickleValue(value: PickleValue): string {
  if (value === null) return 'None';
  if (Array.isArray(value)) return `list of ${value.length}`;
  if (value instanceof PickleTuple) return `tuple of ${value.items.length}`;
  if (value instanceof PickleDict) return `dict of ${value.entries.size}`;
  if (value instanceof PickleGlobal) return value.fullName;
  if (value instanceof StorageRef) return `storage ${value.key}`;
  if (value instanceof TensorRef) return `tensor [${value.shape.join(', ')}]`;
  return typeof value === 'string' ? 'string' : typeof value;
}

/** Unpickles a state-dict pickle into plain values. `name` is used in messages (e.g. "archive/data.pkl"). */
export function unpickle(bytes: Uint8Array, name = 'pickle'): PickleValue {
  return new Unpickler(bytes, name).run();
}

class Unpickler {
  private pos = 0;
  private opcodeStart = 0;
  private readonly stack: PickleValue[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PickleValue>();
  private readonly data: DataView;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  private readonly latin1 = new TextDecoder('latin1');

  constructor(
    private readonly bytes: Uint8Array,
    private readonly name: string,
  ) {
    this.data = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): PickleValue {
    for (;;) {
      this.opcodeStart = this.pos;
      const code = this.u8();
      switch (code) {
        case OP.PROTO: {
          const version = this.u8();
          if (version > 5) this.fail(`unknown pickle protocol ${version}`);
          break;
        }
        case OP.STOP: {
          const result = this.pop();
          if (this.stack.length !== 0 || this.marks.length !== 0) this.fail('STOP with values left on the stack');
          return result;
        }
        case OP.MARK:
          if (this.marks.length >= MAX_MARK_DEPTH) this.fail(`nesting deeper than ${MAX_MARK_DEPTH} MARKs`);
          this.marks.push(this.stack.length);
          break;
        case OP.EMPTY_DICT:
          this.stack.push(new PickleDict());
          break;
        case OP.EMPTY_LIST:
          this.stack.push([]);
          break;
        case OP.EMPTY_TUPLE:
          this.stack.push(new PickleTuple([]));
          break;
        case OP.TUPLE:
          this.stack.push(new PickleTuple(this.popToMark()));
          break;
        case OP.TUPLE1:
        case OP.TUPLE2:
        case OP.TUPLE3: {
          const count = code - OP.TUPLE1 + 1;
          if (this.stack.length - this.topMark() < count) this.fail(`needs ${count} values on the stack`);
          this.stack.push(new PickleTuple(this.stack.splice(this.stack.length - count, count)));
          break;
        }
        case OP.BINPUT:
          this.memo.set(this.u8(), this.top());
          break;
        case OP.LONG_BINPUT:
          this.memo.set(this.u32(), this.top());
          break;
        case OP.BINGET:
          this.stack.push(this.memoGet(this.u8()));
          break;
        case OP.LONG_BINGET:
          this.stack.push(this.memoGet(this.u32()));
          break;
        case OP.BININT:
          this.stack.push(this.data.getInt32(this.advance(4), true));
          break;
        case OP.BININT1:
          this.stack.push(this.u8());
          break;
        case OP.BININT2:
          this.stack.push(this.data.getUint16(this.advance(2), true));
          break;
        case OP.LONG1:
          this.stack.push(this.long(this.u8()));
          break;
        case OP.BINFLOAT:
          this.stack.push(this.data.getFloat64(this.advance(8), false));
          break;
        case OP.BINUNICODE:
          this.stack.push(this.text(this.u32(), this.utf8));
          break;
        case OP.SHORT_BINUNICODE:
          this.stack.push(this.text(this.u8(), this.utf8));
          break;
        case OP.BINSTRING: {
          const length = this.data.getInt32(this.advance(4), true);
          if (length < 0) this.fail(`negative string length ${length}`);
          this.stack.push(this.text(length, this.latin1));
          break;
        }
        case OP.SHORT_BINSTRING:
          this.stack.push(this.text(this.u8(), this.latin1));
          break;
        case OP.NONE:
          this.stack.push(null);
          break;
        case OP.NEWTRUE:
          this.stack.push(true);
          break;
        case OP.NEWFALSE:
          this.stack.push(false);
          break;
        case OP.SETITEM: {
          const value = this.pop();
          const key = this.pop();
          this.setItem(this.top(), key, value);
          break;
        }
        case OP.SETITEMS: {
          const items = this.popToMark();
          if (items.length % 2 !== 0) this.fail('SETITEMS with an odd number of values');
          const target = this.top();
          for (let i = 0; i < items.length; i += 2) this.setItem(target, items[i]!, items[i + 1]!);
          break;
        }
        case OP.APPEND: {
          const value = this.pop();
          this.listTop().push(value);
          break;
        }
        case OP.APPENDS: {
          const items = this.popToMark();
          const list = this.listTop();
          for (const item of items) list.push(item);
          break;
        }
        case OP.GLOBAL:
          this.stack.push(this.global());
          break;
        case OP.REDUCE: {
          const args = this.pop();
          const callable = this.pop();
          this.stack.push(this.reduce(callable, args));
          break;
        }
        case OP.BINPERSID:
          this.stack.push(this.persistentLoad(this.pop()));
          break;
        case OP.BUILD: {
          const state = this.pop();
          // OrderedDict.__reduce__ carries instance attributes (a state dict's `_metadata`) as BUILD state;
          // they are not items and the runtime does not need them.
          if (!(this.top() instanceof PickleDict) || !(state === null || state instanceof PickleDict)) {
            this.fail(`BUILD of ${describePickleValue(this.top())} with ${describePickleValue(state)} is not supported`);
          }
          break;
        }
        default:
          throw new PickleError(
            'unknown-opcode',
            `${this.name}: unsupported pickle opcode ${opcodeLabel(code)} at offset ${this.opcodeStart}; ` +
              'only the opcodes of a plain PyTorch state dict are read',
            this.opcodeStart,
          );
      }
    }
  }

  private fail(what: string): never {
    const code = this.bytes[this.opcodeStart] ?? 0;
    throw new PickleError('bad-pickle', `${this.name}: ${opcodeLabel(code)} at offset ${this.opcodeStart}: ${what}`, this.opcodeStart);
  }

  /** Moves past `count` bytes and returns where they started, or reports a truncated pickle. */
  private advance(count: number): number {
    const start = this.pos;
    if (count > this.bytes.byteLength - start) {
      const code = this.bytes[this.opcodeStart] ?? 0;
      throw new TruncatedFileError(
        `${this.name} ends inside ${opcodeLabel(code)} at offset ${this.opcodeStart} ` +
          `(needs ${count} more bytes, ${this.bytes.byteLength - start} left): the pickle is truncated`,
      );
    }
    this.pos += count;
    return start;
  }

  private u8(): number {
    return this.bytes[this.advance(1)]!;
  }

  private u32(): number {
    return this.data.getUint32(this.advance(4), true);
  }

  private text(length: number, decoder: TextDecoder): string {
    // advance() checks the length against what is left before anything is allocated.
    const start = this.advance(length);
    try {
      return decoder.decode(this.bytes.subarray(start, start + length));
    } catch {
      this.fail('string is not valid UTF-8');
    }
  }

  /** LONG1: little-endian two's complement; state dicts only use it for counts above 2^31. */
  private long(length: number): number {
    const start = this.advance(length);
    if (length === 0) return 0;
    let value = 0n;
    for (let i = length - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.bytes[start + i]!);
    if (this.bytes[start + length - 1]! & 0x80) value -= 1n << BigInt(8 * length);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      this.fail(`integer ${value} is too large`);
    }
    return Number(value);
  }

  private global(): PickleGlobal {
    const module = this.line();
    const name = this.line();
    const fullName = `${module}.${name}`;
    if (!isAllowedGlobal(fullName)) {
      throw new UnsafePickleError(
        fullName,
        `${this.name} asks for the Python global ${fullName} at offset ${this.opcodeStart}. ` +
          'A state dict needs only OrderedDict and torch tensor rebuilders; this file may try to run code, so it was not loaded',
      );
    }
    return new PickleGlobal(fullName);
  }

  private line(): string {
    const end = this.bytes.subarray(this.pos, this.pos + MAX_GLOBAL_NAME + 1).indexOf(0x0a);
    if (end < 0) {
      if (this.bytes.byteLength - this.pos <= MAX_GLOBAL_NAME) this.advance(MAX_GLOBAL_NAME + 1);
      this.fail(`GLOBAL name longer than ${MAX_GLOBAL_NAME} bytes`);
    }
    const start = this.advance(end + 1);
    return this.latin1.decode(this.bytes.subarray(start, start + end));
  }

  private topMark(): number {
    return this.marks[this.marks.length - 1] ?? 0;
  }

  private pop(): PickleValue {
    if (this.stack.length <= this.topMark()) this.fail('stack underflow');
    return this.stack.pop()!;
  }

  private top(): PickleValue {
    if (this.stack.length <= this.topMark()) this.fail('stack underflow');
    return this.stack[this.stack.length - 1]!;
  }

  private popToMark(): PickleValue[] {
    const mark = this.marks.pop();
    if (mark === undefined) this.fail('no MARK to pop to');
    return this.stack.splice(mark);
  }

  private listTop(): PickleValue[] {
    const target = this.top();
    if (!Array.isArray(target)) this.fail(`cannot append to a ${describePickleValue(target)}`);
    return target;
  }

  private memoGet(index: number): PickleValue {
    if (!this.memo.has(index)) this.fail(`memo entry ${index} was never stored`);
    return this.memo.get(index)!;
  }

  private setItem(target: PickleValue, key: PickleValue, value: PickleValue): void {
    if (!(target instanceof PickleDict)) this.fail(`cannot set an item on a ${describePickleValue(target)}`);
    if (typeof key !== 'string' && typeof key !== 'number') this.fail(`dict key of type ${describePickleValue(key)} is not supported`);
    target.entries.set(key, value);
  }

  private reduce(callable: PickleValue, args: PickleValue): PickleValue {
    if (!(callable instanceof PickleGlobal)) this.fail(`cannot call a ${describePickleValue(callable)}`);
    if (!(args instanceof PickleTuple)) this.fail(`arguments of ${callable.fullName} are not a tuple`);
    const a = args.items;
    switch (callable.fullName) {
      case 'collections.OrderedDict':
        if (a.length !== 0) this.fail('OrderedDict with constructor arguments is not supported');
        return new PickleDict();
      case 'torch._utils._rebuild_tensor_v2': {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        const [storage, storageOffset, shape, stride] = a;
        if (
          (a.length !== 6 && a.length !== 7) ||
          !(storage instanceof StorageRef) ||
          !isIndex(storageOffset) ||
          !(shape instanceof PickleTuple) ||
          !(stride instanceof PickleTuple) ||
          !shape.items.every(isIndex) ||
          !stride.items.every(isIndex) ||
          shape.items.length !== stride.items.length
        ) {
          this.fail('_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)');
        }
        return new TensorRef(storage, storageOffset, shape.items as number[], stride.items as number[]);
      }
      case 'torch._utils._rebuild_parameter': {
        // (data, requires_grad, backward_hooks): a Parameter is its tensor for our purposes.
        const [data] = a;
        if (a.length !== 3 || !(data instanceof TensorRef)) this.fail('_rebuild_parameter arguments are not (tensor, requires_grad, hooks)');
        return data;
      }
      default:
        this.fail(`${callable.fullName} is a type marker and cannot be called`);
    }
  }

  private persistentLoad(pid: PickleValue): StorageRef {
    const items = pid instanceof PickleTuple ? pid.items : [];
    const [tag, type, key, location, numel] = items;
    if (
      items.length !== 5 ||
      tag !== 'storage' ||
      !(type instanceof PickleGlobal) ||
      !Object.hasOwn(STORAGE_DTYPES, type.fullName) ||
      typeof key !== 'string' ||
      typeof location !== 'string' ||
      !isIndex(numel)
    ) {
      this.fail(`persistent id ${describePickleValue(pid)} is not ('storage', <Storage type>, key, location, numel)`);
    }
    return new StorageRef(STORAGE_DTYPES[type.fullName as keyof typeof STORAGE_DTYPES], key, location, numel);
  }
}

function isIndex(value: PickleValue | undefined): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The tensors of a state-dict pickle, by key. Accepts a bare state dict and a training checkpoint that
 * wraps one as {"state_dict": ...} (its other entries, e.g. optimizer state, are parsed and ignored).
 */
export function stateDictTensors(root: PickleValue, name: string): Map<string, TensorRef> {
  let stateDict = root;
  if (root instanceof PickleDict && root.entries.get('state_dict') instanceof PickleDict) {
    stateDict = root.entries.get('state_dict')!;
  }
  if (!(stateDict instanceof PickleDict)) {
    throw new CheckpointFormatError('not-a-state-dict', `${name} holds a ${describePickleValue(stateDict)}, not a state dict`);
  }
  const tensors = new Map<string, TensorRef>();
  for (const [key, value] of stateDict.entries) {
    if (typeof key !== 'string' || !(value instanceof TensorRef)) {
      throw new CheckpointFormatError(
        'not-a-state-dict',
        `${name}: state dict entry ${String(key)} is a ${describePickleValue(value)}, not a tensor`,
      );
    }
    tensors.set(key, value);
  }
  return tensors;
}
