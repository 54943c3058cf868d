// `coca caption`, `coca embed` and `coca search`: the engine on Node's host (Dawn), loading a model folder,
// a hub repo id or a base URL exactly as the browser's worker does. Usage errors are found before anything
// is loaded; so are missing PATHs and output files that cannot be resumed. Returns the exit status.
import { OptionsError } from '../errors';
import type { CaptionResult } from '../engine/api';
import { CocaEngine, type EngineOptions } from '../engine/engine';
import { nodeHost } from '../engine/host-node';
import { CAPTION_PARAMETERS, resolveCaptionOptions, resolveDtype, resolveMath, resolveOrientation, resolveStrategy, type CaptionSettings } from '../options';
import { flag, numberFlag, stringFlag, type Parsed } from './args';
import { runBatches, type BatchJob, type BatchOutcome } from './batch';
import { CLI_DEFAULT_STRATEGY, DEFAULT_BATCH, MAX_BATCH } from './help';
import { listImages } from './image-paths';
import { CaptionStdout, captionRecord, EmbedStdout, embeddingRecord, IndexOutput, JsonlOutput, type ImageEmbedding, type Output } from './outputs';
import { ProgressReporter } from './progress';
import { runSearch } from './search';

export type ModelCommand = 'caption' | 'embed' | 'search';

/** Exit status of a run stopped by a signal: 128 + its number, as shells report it. */
const EXIT_STOPPED: Readonly<Record<'SIGINT' | 'SIGTERM', number>> = { SIGINT: 130, SIGTERM: 143 };

/** The caption settings the flags ask for, checked now (OptionsError spelled as flags). */
export function captionSettings(values: Parsed['values']): CaptionSettings {
  const strategyFlag = stringFlag(values, 'strategy');
  if (values.greedy && strategyFlag !== undefined && strategyFlag !== 'greedy') {
    throw new OptionsError(`--greedy and --strategy ${strategyFlag} contradict each other: give one`, '--greedy');
  }
  const settings: CaptionSettings = { strategy: values.greedy ? 'greedy' : resolveStrategy(strategyFlag ?? CLI_DEFAULT_STRATEGY, '--strategy') };
  for (const parameter of CAPTION_PARAMETERS) {
    const value = numberFlag(values, flag(parameter).slice(2));
    if (value !== undefined) settings[parameter] = value;
  }
  resolveCaptionOptions(settings, { spell: flag });
  return settings;
}

/** The engine options the model flags ask for, checked now. */
export function engineOptions(command: ModelCommand, values: Parsed['values']): EngineOptions {
  const model = stringFlag(values, 'model');
  if (!model) throw new OptionsError(`${command} needs --model MODEL (a folder, a hub repo id or a base URL)`, '--model');
  const vocab = stringFlag(values, 'vocab') ?? (process.env.COCA_VOCAB || undefined);
  const revision = stringFlag(values, 'revision');
  const hubUrl = stringFlag(values, 'hub-url');
  return {
    model,
    dtype: resolveDtype(stringFlag(values, 'dtype'), '--dtype'),
    math: resolveMath(stringFlag(values, 'math'), '--math'),
    orientation: resolveOrientation(stringFlag(values, 'orientation'), '--orientation'),
    ...(vocab ? { vocab } : {}),
    ...(revision ? { revision } : {}),
    ...(hubUrl ? { hubUrl } : {}),
  };
}

export async function runModelCommand(command: ModelCommand, parsed: Parsed, print: (text: string) => void): Promise<number> {
  if (command === 'search') return runSearch(parsed, engineOptions('search', parsed.values), print);
  return command === 'caption' ? runCaption(parsed, print) : runEmbed(parsed, print);
}

async function runCaption({ values, positionals }: Parsed, print: (text: string) => void): Promise<number> {
  const options = engineOptions('caption', values);
  const settings = captionSettings(values);
  if (positionals.length === 0) throw new OptionsError('caption needs at least one IMAGE (a file or a folder)', 'IMAGE');
  const out = outFlag(values, ['.jsonl']);
  const run: ImageRun<CaptionResult> = {
    paths: positionals,
    values,
    out,
    openOutput: async () => (out ? JsonlOutput.open(out, 'caption', captionRecord) : new CaptionStdout(values.json === true, print)),
    verb: 'captioned',
    batchSize: batchFlag(values),
  };
  return runOnImages(run, options, (engine) => ({ process: (batch) => engine.captionImages(batch, settings) }));
}

async function runEmbed({ values, positionals }: Parsed, print: (text: string) => void): Promise<number> {
  const options = engineOptions('embed', values);
  const paths = [...((values.image as string[] | undefined) ?? []), ...positionals];
  const texts = (values.text as string[] | undefined) ?? [];
  if (paths.length + texts.length === 0) throw new OptionsError('embed needs at least one IMAGE (a file or a folder), --image or --text', 'IMAGE');
  const out = outFlag(values, ['.jsonl', '.safetensors']);
  if (out && texts.length > 0) throw new OptionsError('--out stores image embeddings; embed texts without --out', '--text');
  const stdout = new EmbedStdout(print);
  const run: ImageRun<ImageEmbedding> = {
    paths,
    values,
    out,
    openOutput: async () => {
      if (!out) return stdout;
      if (out.endsWith('.jsonl')) return JsonlOutput.open(out, 'embed', embeddingRecord);
      return IndexOutput.open(out);
    },
    verb: 'embedded',
    batchSize: batchFlag(values),
    texts: texts.length > 0,
  };
  return runOnImages(run, options, (engine, output) => {
    if (output instanceof IndexOutput) output.setModel(engine.info);
    if (texts.length === 0) return { process: async (batch) => (await engine.encodeImage(batch)).map((embedding) => ({ embedding })) };
    return {
      prepare: async () => {
        stdout.textFeatures = await engine.encodeText(texts);
      },
      process: async (batch) => {
        const { imageFeatures, logits, probs } = await engine.similarity(batch, texts);
        return imageFeatures.map((embedding, i) => ({ embedding, logits: logits[i]!, probs: probs[i]! }));
      },
    };
  });
}

interface ImageRun<R> {
  /** The PATH arguments: files and folders. */
  paths: readonly string[];
  values: Parsed['values'];
  /** The --out file, for messages. */
  out: string | undefined;
  /** Opened once the images are listed (so a missing PATH leaves no file behind). */
  openOutput(): Promise<Output<R>>;
  /** "captioned", "embedded": what was done to each image, for the summary. */
  verb: string;
  batchSize: number;
  /** Texts to embed as well: the model is loaded even when no image is left to do. */
  texts?: boolean;
}

interface Work<R> {
  /** Runs once the model is loaded, before the images (embed: the texts). */
  prepare?(): Promise<void>;
  process: BatchJob<R>['process'];
}

/**
 * Lists the images, skips those the output holds, loads the model only when something is left to do,
 * runs the batches with progress on stderr, and closes the output whatever happens.
 */
async function runOnImages<R>(run: ImageRun<R>, options: EngineOptions, work: (engine: CocaEngine, output: Output<R>) => Work<R>): Promise<number> {
  const { values, out } = run;
  const quiet = values.quiet === true;
  let reporter: ProgressReporter | null = null;
  /** A line on stderr (above the progress bar while there is one), unless --quiet. */
  const say = (line: string): void => {
    if (quiet) return;
    if (reporter) reporter.message(line);
    else process.stderr.write(`${line}\n`);
  };
  const { images, unreadable } = await listImages(run.paths);
  for (const error of unreadable) process.stderr.write(`coca: ${error.name}: ${error.message}\n`);
  const output = await run.openOutput();
  const stop = new AbortController();
  let outcome: BatchOutcome = { done: 0, failed: 0, stopped: false };
  let finished = false;
  let stoppedBy: keyof typeof EXIT_STOPPED | null = null;
  /** Ctrl-C (or a SIGTERM) stops the run between batches, so that what is done is stored; a second one quits at once. */
  const onSignal = (signal: keyof typeof EXIT_STOPPED): void => {
    if (stoppedBy) process.exit(EXIT_STOPPED[signal]);
    stoppedBy = signal;
    stop.abort();
    say(`coca: stopping after this ${run.batchSize > 1 ? 'batch' : 'image'}, keeping what is done (Ctrl-C again to quit at once)`);
  };
  try {
    if (output instanceof JsonlOutput && output.cutBytes > 0) say(`coca: ${out}: cut off an unfinished last line (${output.cutBytes} bytes); its image is done again`);
    const todo = images.filter((path) => !output.done.has(path));
    const skipped = images.length - todo.length;
    if (todo.length > 0 || run.texts) {
      const engine = await CocaEngine.load(nodeHost(), options);
      try {
        const { prepare, process: processBatch } = work(engine, output);
        await prepare?.();
        if (!quiet && todo.length > 0) reporter = new ProgressReporter(process.stderr, 'coca', todo.length);
        process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
        const started = performance.now();
        outcome = await runBatches({ todo, batchSize: run.batchSize, process: processBatch, store: (path, result) => output.store(path, result) }, reporter, stop.signal);
        if (images.length > 0) say(summary(run, outcome, images.length, skipped, (performance.now() - started) / 1000));
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
        await engine.dispose();
      }
    } else {
      say(images.length === 0 ? `coca: no images in ${run.paths.join(', ')}` : `coca: nothing to do: all ${images.length} images are already in ${out}`);
    }
    finished = !outcome.stopped;
    if (stoppedBy && outcome.stopped) return EXIT_STOPPED[stoppedBy];
    return outcome.failed > 0 || unreadable.length > 0 ? 1 : 0;
  } finally {
    await output.close(finished);
  }
}

/** "coca: 44 images: 40 captioned, 3 already in out.jsonl, 1 failed (12.3 s, 3.3 images/s)". */
function summary(run: ImageRun<unknown>, { done, failed, stopped }: BatchOutcome, total: number, skipped: number, seconds: number): string {
  const parts = [`${done} ${run.verb}`];
  if (skipped > 0) parts.push(`${skipped} already in ${run.out}`);
  if (failed > 0) parts.push(`${failed} failed`);
  if (stopped) parts.push(`${total - skipped - done - failed} left for the next run`);
  const rate = seconds > 0 ? `, ${((done + failed) / seconds).toFixed(1)} images/s` : '';
  return `coca: ${total} images: ${parts.join(', ')} (${seconds.toFixed(1)} s${rate})`;
}

/** --out FILE: one of the extensions the command writes, and not with --json (which prints to stdout). */
function outFlag(values: Parsed['values'], extensions: readonly string[]): string | undefined {
  const out = stringFlag(values, 'out');
  if (out === undefined) return undefined;
  if (!extensions.some((extension) => out.endsWith(extension))) {
    throw new OptionsError(`--out must name a ${extensions.join(' or ')} file (got ${JSON.stringify(out)})`, '--out');
  }
  if (values.json) throw new OptionsError('--json prints results on stdout and --out writes them to a file: give one', '--json');
  return out;
}

function batchFlag(values: Parsed['values']): number {
  const batch = numberFlag(values, 'batch') ?? DEFAULT_BATCH;
  if (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH) {
    throw new OptionsError(`--batch must be an integer from 1 to ${MAX_BATCH} (got ${stringFlag(values, 'batch')})`, '--batch');
  }
  return batch;
}
