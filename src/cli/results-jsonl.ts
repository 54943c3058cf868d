// `--out FILE.jsonl`: one JSON object per image, appended as each finishes, each line written before the
// next image starts, so a killed run keeps every finished line. Opening an existing file reads the paths it
// already holds (a rerun skips them); a last line without its newline is what a crash mid-write leaves: it
// is cut off and its image done again. Any other line that is not a result of this command stops the run.
import { open, type FileHandle } from 'node:fs/promises';
import { LibraryError } from '../errors';

/** What each line holds: `caption` {path, text, tokens, ms}; `embed` {path, embedding}. */
export type ResultKind = 'caption' | 'embed';

/** The field that tells a command's lines apart, besides `path`. */
const KIND_FIELD: Record<ResultKind, string> = { caption: 'text', embed: 'embedding' };
/** Bytes read at a time while scanning an existing file (lines may be far longer: an embedding line is ~10 KB). */
const READ_CHUNK = 1 << 20;
const NEWLINE = 0x0a;
/** Longest line read back: far above any result (a 1,024-wide embedding is ~20 KB), so memory stays bounded. */
const MAX_LINE_BYTES = 16 << 20;

export class ResultsFile {
  private constructor(
    private readonly handle: FileHandle,
    /** Paths already in the file when it was opened. */
    readonly done: ReadonlySet<string>,
    /** Bytes of an unfinished last line that were cut off (0 when the file ended cleanly). */
    readonly cutBytes: number,
  ) {}

  /** Opens (or creates) `path` for appending, after reading the paths it holds. */
  static async open(path: string, kind: ResultKind): Promise<ResultsFile> {
    const handle = await open(path, 'a+').catch((error: NodeJS.ErrnoException) => {
      throw new LibraryError(`--out ${path} cannot be opened for writing (${error.code ?? error.message})`);
    });
    try {
      const { done, end, size } = await scan(handle, path, kind);
      if (end < size) await handle.truncate(end);
      return new ResultsFile(handle, done, size - end);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Appends one result as a line; resolves once the operating system holds it. */
  async append<T extends { path: string }>(result: T): Promise<void> {
    await this.handle.write(`${JSON.stringify(result)}\n`);
  }

  async close(): Promise<void> {
    await this.handle.sync();
    await this.handle.close();
  }
}

/** The paths of every complete line, and where the last complete line ends. */
async function scan(handle: FileHandle, path: string, kind: ResultKind): Promise<{ done: Set<string>; end: number; size: number }> {
  const { size } = await handle.stat();
  const done = new Set<string>();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending: Uint8Array[] = [];
  let end = 0;
  let line = 0;
  const buffer = new Uint8Array(READ_CHUNK);
  for (let position = 0; position < size; ) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(READ_CHUNK, size - position), position);
    if (bytesRead === 0) break;
    let start = 0;
    for (let i = 0; i < bytesRead; i++) {
      if (buffer[i] !== NEWLINE) continue;
      pending.push(buffer.slice(start, i));
      done.add(resultPath(decodeLine(decoder, pending, path, ++line), path, line, kind));
      pending = [];
      start = i + 1;
      end = position + i + 1;
    }
    if (start < bytesRead) pending.push(buffer.slice(start, bytesRead));
    position += bytesRead;
    if (position - end > MAX_LINE_BYTES) {
      throw new LibraryError(`--out ${path}: line ${line + 1} runs past ${MAX_LINE_BYTES} bytes: not a file of coca results; give another file`);
    }
  }
  return { done, end, size };
}

function decodeLine(decoder: TextDecoder, parts: Uint8Array[], path: string, line: number): unknown {
  const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    throw new LibraryError(`--out ${path}, line ${line}: not a JSON object; give another file, or remove the line to do that image again`);
  }
}

function resultPath(value: unknown, path: string, line: number, kind: ResultKind): string {
  const record = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  if (typeof record.path !== 'string' || !(KIND_FIELD[kind] in record)) {
    throw new LibraryError(`--out ${path}, line ${line}: not a result of coca ${kind} (it needs "path" and "${KIND_FIELD[kind]}"); give another file`);
  }
  return record.path;
}
