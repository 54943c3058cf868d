// Named errors across the worker boundary. Comlink's own error handling keeps only name, message and stack
// on a plain Error; ours rebuilds the class from src/errors.ts with its fields (a QuotaExceededError keeps
// `needed` and `free`, a NetworkError its `url` and `status`), so `instanceof` works on the page.
import { transferHandlers, type TransferHandler } from 'comlink';
import * as errorClasses from '../errors';
import { CocaError } from '../errors';

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** The error's own fields (needed, free, url, status, tensor, …). */
  fields: Record<string, unknown>;
}

/** The error classes by name: the export names of src/errors.ts, which equal each class's `name`. */
type ErrorClass = abstract new (...args: never[]) => Error;
const ERRORS_BY_NAME = new Map<string, ErrorClass>();
for (const [name, value] of Object.entries(errorClasses) as [string, unknown][]) {
  if (typeof value === 'function' && value.prototype instanceof Error) ERRORS_BY_NAME.set(name, value as ErrorClass);
}

const STANDARD_ERRORS: Record<string, ErrorConstructor> = { TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };

function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error) && !(typeof DOMException !== 'undefined' && error instanceof DOMException)) {
    return { name: 'Error', message: String(error), fields: {} };
  }
  const e = error as Error;
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(e)) {
    if (key === 'name' || key === 'message' || key === 'stack') continue;
    if (cloneable(value)) fields[key] = value;
  }
  return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}), fields };
}

/** The same class as on the other side (ours, or a standard one), with its fields; CocaError named as sent otherwise. */
export function deserializeError(s: SerializedError): Error {
  const Class = ERRORS_BY_NAME.get(s.name) ?? STANDARD_ERRORS[s.name] ?? CocaError;
  // Reflect.construct gives a real Error with the class's prototype without calling a constructor whose
  // parameters differ from class to class; the fields are then put back as they were.
  const error = Reflect.construct(Error, [s.message], Class) as Error;
  Object.defineProperty(error, 'name', { value: s.name, writable: true, enumerable: true, configurable: true });
  Object.assign(error, s.fields);
  if (s.stack) error.stack = s.stack;
  return error;
}

let installed = false;

/** Replaces comlink's handler for thrown values on this side (page and worker both call it). */
export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const original = transferHandlers.get('throw')!;
  const handler: TransferHandler<{ value: unknown }, SerializedError> = {
    canHandle: (value): value is { value: unknown } => original.canHandle(value),
    serialize: ({ value }) => [serializeError(value), []],
    deserialize: (serialized) => {
      throw deserializeError(serialized);
    },
  };
  transferHandlers.set('throw', handler as TransferHandler<unknown, unknown>);
}
