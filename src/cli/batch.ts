// The loop of the batch commands: the images to do, a batch at a time, each result stored as soon as it is
// made. An image that cannot be read (ImageDecodeError, ImageTooLargeError) is reported and left out, and
// the run goes on; when one spoils a batch, its images are done one by one to find it. Any other failure
// (the GPU, the disk) ends the run, with every result stored so far kept. A stop signal (Ctrl-C) ends the
// run between batches.
import { ImageDecodeError, ImageTooLargeError } from '../errors';
import type { ProgressReporter } from './progress';

export interface BatchJob<R> {
  /** Paths to do, in order. */
  todo: readonly string[];
  batchSize: number;
  /** One result per path, in order (one GPU pass for the batch); throws when any image cannot be read. */
  process(paths: readonly string[]): Promise<R[]>;
  /** Keeps a result (a line in a file, a row of an index, an entry of what stdout gets). */
  store(path: string, result: R): Promise<void>;
}

export interface BatchOutcome {
  done: number;
  failed: number;
  /** Stopped by the signal before every image was tried. */
  stopped: boolean;
}

export async function runBatches<R>(job: BatchJob<R>, reporter: ProgressReporter | null, stop: AbortSignal): Promise<BatchOutcome> {
  const outcome: BatchOutcome = { done: 0, failed: 0, stopped: false };
  for (let start = 0; start < job.todo.length; start += job.batchSize) {
    if (stop.aborted) {
      outcome.stopped = true;
      break;
    }
    const paths = job.todo.slice(start, start + job.batchSize);
    const results = await processIsolating(job, paths);
    for (const [i, result] of results.entries()) {
      if (result instanceof Error) {
        outcome.failed++;
        reportFailure(reporter, result);
      } else {
        await job.store(paths[i]!, result);
        outcome.done++;
      }
    }
    reporter?.advance(paths.length);
  }
  return outcome;
}

/** The batch in one call; when an image in it cannot be read, each image alone, so only that one is lost. */
async function processIsolating<R>(job: BatchJob<R>, paths: readonly string[]): Promise<(R | Error)[]> {
  try {
    return await job.process(paths);
  } catch (error) {
    if (!isImageError(error)) throw error;
    if (paths.length === 1) return [error];
    const results: (R | Error)[] = [];
    for (const path of paths) results.push(...(await processIsolating(job, [path])));
    return results;
  }
}

export function isImageError(error: unknown): error is ImageDecodeError | ImageTooLargeError {
  return error instanceof ImageDecodeError || error instanceof ImageTooLargeError;
}

/** "coca: ImageDecodeError: photos/x.png: …" on stderr (above the progress bar when there is one). */
export function reportFailure(reporter: ProgressReporter | null, error: Error): void {
  const line = `coca: ${error.name}: ${error.message}`;
  if (reporter) reporter.message(line);
  else process.stderr.write(`${line}\n`);
}
