// Where the batch commands' results go: stdout (lines or JSON, as before batching), a JSONL file written
// line by line, or (embed) a safetensors index. File outputs know what they already hold, so a rerun skips it.
import { existsSync } from 'node:fs';
import type { CaptionResult } from '../engine/api';
import { checkSameModel, readIndexFile, writeIndexFile, type IndexFile } from './index-file';
import { ResultsFile, type ResultKind } from './results-jsonl';

export interface Output<R> {
  /** Paths already in the output (a rerun skips them): empty for stdout. */
  readonly done: ReadonlySet<string>;
  store(path: string, result: R): Promise<void>;
  /** Once, after the run, finished or not: flushes and closes a file, writes an index, prints JSON. */
  close(finished: boolean): Promise<void>;
}

/** What embed makes per image: the normalized embedding, and with --text its logits and probs over the texts. */
export interface ImageEmbedding {
  embedding: Float32Array;
  logits?: number[];
  probs?: number[];
}

/** A line of `caption --out FILE.jsonl`. */
export interface CaptionRecord {
  path: string;
  text: string;
  tokens: number[];
  ms: number;
}

/** A line of `embed --out FILE.jsonl`. */
export interface EmbeddingRecord {
  path: string;
  embedding: number[];
}

/** Milliseconds in a JSONL line: a tenth is far below the timing noise. */
const roundMs = (ms: number): number => Math.round(ms * 10) / 10;

/** --out FILE.jsonl: one line per image, {path, text, tokens, ms} or {path, embedding}. */
export class JsonlOutput<R> implements Output<R> {
  private constructor(
    private readonly file: ResultsFile,
    private readonly record: (path: string, result: R) => { path: string },
  ) {}

  static async open<R>(path: string, kind: ResultKind, record: (path: string, result: R) => { path: string }): Promise<JsonlOutput<R>> {
    return new JsonlOutput(await ResultsFile.open(path, kind), record);
  }

  get done(): ReadonlySet<string> {
    return this.file.done;
  }

  /** Bytes of an unfinished last line (a crash mid-write) that opening cut off. */
  get cutBytes(): number {
    return this.file.cutBytes;
  }

  store(path: string, result: R): Promise<void> {
    return this.file.append(this.record(path, result));
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

export const captionRecord = (path: string, { text, tokens, ms }: CaptionResult): CaptionRecord => ({ path, text, tokens, ms: roundMs(ms) });
export const embeddingRecord = (path: string, { embedding }: ImageEmbedding): EmbeddingRecord => ({ path, embedding: [...embedding] });

/** --out FILE.safetensors: an existing index is extended (same model, revision and dtype); written when the run ends. */
export class IndexOutput implements Output<ImageEmbedding> {
  private readonly paths: string[] = [];
  private readonly rows: Float32Array[] = [];
  private model: { id: string; revision: string; dtype: string } | null = null;

  private constructor(
    private readonly path: string,
    private readonly existing: IndexFile | null,
    readonly done: ReadonlySet<string>,
  ) {}

  static async open(path: string): Promise<IndexOutput> {
    const existing = existsSync(path) ? await readIndexFile(path) : null;
    return new IndexOutput(path, existing, new Set(existing?.paths ?? []));
  }

  /** The model the new rows come from; refused (LibraryError) when the index holds another model's. */
  setModel(model: { id: string; revision: string; dtype: string }): void {
    if (this.existing) checkSameModel(this.existing, this.path, model);
    this.model = model;
  }

  async store(path: string, { embedding }: ImageEmbedding): Promise<void> {
    this.paths.push(path);
    this.rows.push(embedding);
  }

  async close(): Promise<void> {
    if (this.rows.length === 0 || !this.model) return;
    const dim = this.rows[0]!.length;
    const before = this.existing?.paths.length ?? 0;
    const embeddings = new Float32Array((before + this.rows.length) * dim);
    if (this.existing) embeddings.set(this.existing.embeddings);
    this.rows.forEach((row, i) => embeddings.set(row, (before + i) * dim));
    await writeIndexFile(this.path, {
      model: this.model.id,
      revision: this.model.revision,
      dtype: this.model.dtype,
      dim,
      paths: [...(this.existing?.paths ?? []), ...this.paths],
      embeddings,
    });
  }
}

/** caption without --out: "path<tab>caption" lines as they come, or with --json one array at the end. */
export class CaptionStdout implements Output<CaptionResult> {
  readonly done: ReadonlySet<string> = new Set();
  private readonly results: { image: string; tokens: number[]; caption: string }[] = [];

  constructor(
    private readonly json: boolean,
    private readonly print: (text: string) => void,
  ) {}

  async store(image: string, { text, tokens }: CaptionResult): Promise<void> {
    if (this.json) this.results.push({ image, tokens, caption: text });
    else this.print(`${image}\t${text}`);
  }

  async close(finished: boolean): Promise<void> {
    if (this.json && finished) this.print(JSON.stringify(this.results));
  }
}

/** embed without --out: one JSON object, {images, image_features, text_features, similarity_logits, probs}. */
export class EmbedStdout implements Output<ImageEmbedding> {
  readonly done: ReadonlySet<string> = new Set();
  /** Set once the texts are encoded. */
  textFeatures: Float32Array[] = [];
  private readonly images: string[] = [];
  private readonly rows: ImageEmbedding[] = [];

  constructor(private readonly print: (text: string) => void) {}

  async store(path: string, result: ImageEmbedding): Promise<void> {
    this.images.push(path);
    this.rows.push(result);
  }

  async close(finished: boolean): Promise<void> {
    if (!finished) return;
    this.print(
      JSON.stringify({
        images: this.images,
        image_features: this.rows.map((r) => [...r.embedding]),
        text_features: this.textFeatures.map((f) => [...f]),
        similarity_logits: this.rows.flatMap((r) => (r.logits ? [r.logits] : [])),
        probs: this.rows.flatMap((r) => (r.probs ? [r.probs] : [])),
      }),
    );
  }
}
