// Named errors. Every failure a user can meet has its own class and a message that says what to do.
// They cross the worker boundary by name (see src/client), so keep `name` equal to the class name.

export class CocaError extends Error {
  override name = 'CocaError';
}

/** No WebGPU in this environment (old browser, disabled flag, or Node without the `webgpu` package). */
export class WebGPUUnavailableError extends CocaError {
  override name = 'WebGPUUnavailableError';
}

/** The GPU device was lost (driver reset, another tab took the GPU, `device.destroy()`). */
export class DeviceLostError extends CocaError {
  override name = 'DeviceLostError';
}

/** A GPU validation or out-of-memory error, naming the kernel that caused it. */
export class GpuError extends CocaError {
  override name = 'GpuError';
}

/** A tensor's shape or dtype does not fit a kernel's contract (a programming error, caught before dispatch). */
export class ShapeError extends CocaError {
  override name = 'ShapeError';
}

/** A network request for a model file failed or the server answered in a way we cannot use. */
export class NetworkError extends CocaError {
  override name = 'NetworkError';
  constructor(
    message: string,
    /** The URL that was requested. */
    readonly url: string,
    /** The HTTP status, or 0 when no response arrived (offline, DNS, CORS). */
    readonly status: number,
  ) {
    super(message);
  }
}

/** What exactly is wrong with a checkpoint file; lets callers and tests tell the cases apart. */
export type CheckpointErrorCode =
  | 'unknown-format'
  | 'truncated'
  | 'header-too-large'
  | 'bad-header'
  | 'too-many-tensors'
  | 'offset-out-of-range'
  | 'overlap'
  | 'gap'
  | 'size-mismatch'
  | 'unsupported-dtype'
  | 'bad-zip'
  | 'duplicate-entry'
  | 'crc-mismatch'
  | 'compressed-entry'
  | 'missing-storage'
  | 'bad-pickle'
  | 'unknown-opcode'
  | 'not-a-state-dict'
  | 'non-contiguous'
  | 'big-endian'
  | 'non-finite';

/** A checkpoint file (safetensors or PyTorch .bin) is corrupt, truncated or uses something we do not read. */
export class CheckpointFormatError extends CocaError {
  override name = 'CheckpointFormatError';
  constructor(
    readonly code: CheckpointErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The file ends before a structure it declares: usually an interrupted download. */
export class TruncatedFileError extends CheckpointFormatError {
  override name = 'TruncatedFileError';
  constructor(message: string) {
    super('truncated', message);
  }
}

/** A tensor is stored in a dtype other than float32/float16/bfloat16. */
export class UnsupportedDtypeError extends CheckpointFormatError {
  override name = 'UnsupportedDtypeError';
  constructor(
    readonly tensor: string,
    readonly dtype: string,
    message: string,
  ) {
    super('unsupported-dtype', message);
  }
}

/**
 * A weight is NaN or ±Inf (or, for fp16 weights, too large to be a half): the checkpoint is corrupt, and a
 * model built from it would answer NaN. Names the tensor and the first bad element.
 */
export class NonFiniteWeightError extends CheckpointFormatError {
  override name = 'NonFiniteWeightError';
  constructor(
    readonly tensor: string,
    /** Index of the first bad element in the tensor (row-major). */
    readonly index: number,
    readonly value: number,
    message: string,
  ) {
    super('non-finite', message);
  }
}

/** A pickle uses an opcode or construct that a state dict never needs. */
export class PickleError extends CheckpointFormatError {
  override name = 'PickleError';
  constructor(
    code: 'bad-pickle' | 'unknown-opcode',
    message: string,
    /** Byte offset inside the pickle stream. */
    readonly offset: number,
  ) {
    super(code, message);
  }
}

/** A pickle names a Python global outside the allow-list (e.g. os.system): it could run code, so we refuse. */
export class UnsafePickleError extends CocaError {
  override name = 'UnsafePickleError';
  constructor(
    /** The offending global, as "module.name". */
    readonly globalName: string,
    message: string,
  ) {
    super(message);
  }
}

/** A model config (open_clip_config.json) is not a CoCa config or uses a feature this runtime lacks. */
export class ModelConfigError extends CocaError {
  override name = 'ModelConfigError';
}

/** A checkpoint lacks a tensor the config needs, or has it with the wrong shape or dtype. */
export class ModelFormatError extends CocaError {
  override name = 'ModelFormatError';
  constructor(
    message: string,
    /** The tensor the problem is about. */
    readonly tensor: string,
    /** The shape the config implies, when the problem is a shape. */
    readonly expectedShape?: readonly number[],
    /** The shape found in the checkpoint, when the tensor exists. */
    readonly actualShape?: readonly number[],
  ) {
    super(message);
  }
}

/** The bytes are not an image we can decode (wrong format, truncated, corrupt, or zero-sized). */
export class ImageDecodeError extends CocaError {
  override name = 'ImageDecodeError';
}

/** The image declares more pixels than MAX_IMAGE_PIXELS (src/image/header.ts); refused before decoding. */
export class ImageTooLargeError extends CocaError {
  override name = 'ImageTooLargeError';
}

/** The tokenizer's vocabulary files are missing, truncated or not the CLIP BPE vocabulary. */
export class VocabularyError extends CocaError {
  override name = 'VocabularyError';
}

/** A text (or a batch of texts) is longer than the tokenizer accepts in one call; see MAX_TEXT_CHARS in src/text/tokenizer.ts. */
export class TextTooLongError extends CocaError {
  override name = 'TextTooLongError';
  constructor(
    message: string,
    /** Characters given (of one text, or of the whole call). */
    readonly length: number,
    /** The limit that was exceeded. */
    readonly limit: number,
  ) {
    super(message);
  }
}

/** A token id outside the vocabulary was given to the tokenizer (e.g. to decode). */
export class TokenIdError extends CocaError {
  override name = 'TokenIdError';
}

/**
 * A call was cancelled through its AbortSignal. Named like the DOM's AbortError, so the usual
 * `error.name === 'AbortError'` check works on both sides of the worker boundary.
 */
export class AbortError extends CocaError {
  override name = 'AbortError';
}

/** The browser refused to store more (IndexedDB quota). The model still works, uncached. */
export class QuotaExceededError extends CocaError {
  override name = 'QuotaExceededError';
  constructor(
    message: string,
    /** Bytes the cache wanted to store. */
    readonly needed: number,
    /** Bytes the origin had left (quota − usage from navigator.storage.estimate()), or -1 when unknown. */
    readonly free: number,
  ) {
    super(message);
  }
}

/** A model file changed on the server (ETag or size) while it was being read; the old bytes are discarded. */
export class ModelChangedError extends NetworkError {
  override name = 'ModelChangedError';
}

/** The model was disposed (or its worker ended); create a new one with createCoca(). */
export class DisposedError extends CocaError {
  override name = 'DisposedError';
}

/** An option's value is not one it accepts (a dtype, a caption strategy or one of its parameters). */
export class OptionsError extends CocaError {
  override name = 'OptionsError';
  constructor(
    message: string,
    /** The option, as the API names it (maxLength, numBeams, dtype, …). */
    readonly option: string,
  ) {
    super(message);
  }
}

/** A photo-library call was given something it cannot use (an unknown photo id, a bad option, mixed models). */
export class LibraryError extends CocaError {
  override name = 'LibraryError';
}

/** Why a camera could not be used: the person said no, there is none, another program holds it, or the page cannot ask. */
export type CameraProblem = 'denied' | 'missing' | 'busy' | 'unsupported' | 'failed';

/** The camera could not be started; the message says what to do. */
export class CameraError extends CocaError {
  override name = 'CameraError';
  constructor(
    message: string,
    readonly problem: CameraProblem,
  ) {
    super(message);
  }
}
