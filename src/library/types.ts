// The photo library's public types. Plain data with no DOM beyond Blob (which Node has too), so the CLI
// can read and write the same entries.
import type { CaptionOptions, CaptionResult, CaptionSettings, ModelInfo } from '../client/types';

export type { CaptionSettings };

/**
 * What the library needs from a model. The page's `Coca` (from createCoca) is one; `NodeLibraryModel`
 * (model-node.ts) runs the same calls in Node.
 */
export interface LibraryModel {
  readonly info: Pick<ModelInfo, 'id' | 'revision' | 'dtype'>;
  /** Normalized image embeddings, one batch in one call. */
  encodeImage(images: readonly Blob[]): Promise<Float32Array[]>;
  encodeText(texts: readonly string[]): Promise<Float32Array[]>;
  caption(image: Blob, options?: CaptionOptions): Promise<CaptionResult>;
}


/** One photo in the index. Its id is the SHA-256 of its bytes, so the same photo under two paths is one entry. */
export interface LibraryEntry {
  /** SHA-256 of the file's bytes, 64 lower-case hex digits. */
  id: string;
  /** Where it was added from: the path inside a picked folder, else the file name. */
  path: string;
  name: string;
  /** Bytes. */
  size: number;
  /** MIME type as the browser reported it ('' when unknown). */
  type: string;
  /** The file's own modification time (ms since epoch), 0 when unknown. */
  lastModified: number;
  /** When it was indexed (ms since epoch). */
  addedAt: number;
  /** The model's normalized image embedding. */
  embedding: Float32Array;
  /** Present when the photo was captioned while indexing. */
  caption?: string;
  captionStrategy?: CaptionOptions['strategy'];
  /** A small JPEG (longest side THUMBNAIL_SIZE px); absent where no thumbnail could be made (Node). */
  thumbnail?: Blob;
}

/** A photo to add: a File (a folder pick gives its path in webkitRelativePath), or any Blob with its path. */
export type LibraryInput = File | { file: Blob; path: string };

export interface LibraryOptions {
  /** Separate libraries under one model; default 'default'. */
  name?: string;
  /** Photos per image-encoding call (default 8): the most decoded images alive at once. */
  batchSize?: number;
  /** Where entries live; default: IndexedDB database `coca-webgpu-library` (browsers). */
  store?: LibraryStore;
  /** Makes an entry's thumbnail; default: a JPEG drawn on an OffscreenCanvas (browsers); `false` for none. */
  thumbnail?: ((image: Blob) => Promise<Blob>) | false;
}

export interface AddOptions {
  onProgress?: (progress: IndexProgress) => void;
  /** Stops the call (AbortError); photos not yet indexed stay queued for `indexPending()` or the next load. */
  signal?: AbortSignal;
  /** Caption each new photo: `true` for greedy decoding, or the decoding options. */
  caption?: boolean | CaptionSettings;
}

export interface IndexProgress {
  /** 'reading': hashing the given files; 'indexing': encoding the queue; 'paused'; 'done'. */
  phase: 'reading' | 'indexing' | 'paused' | 'done';
  /** Files hashed so far, of those given to this add() call (both 0 outside the reading phase). */
  read: number;
  toRead: number;
  /** Photos finished (indexed or failed) in this run, of all queued (including ones left from before). */
  done: number;
  total: number;
  /** Given files already in the index (or already queued): nothing to encode (reading phase; 0 after). */
  known: number;
  failed: number;
  /** Photos per second since indexing started, pauses excluded (0 until the first batch is done). */
  imagesPerSecond: number;
  /** At the current rate; undefined until there is a rate. */
  secondsLeft?: number;
  /** The photo being worked on. */
  path?: string;
}

export interface AddResult {
  /** Photos indexed by this run (including ones queued before, e.g. by an interrupted run). */
  added: number;
  /** Given files already in the index or already queued. */
  known: number;
  /** Photos that could not be indexed (not an image, corrupt, too large, no longer readable): they are not retried. */
  failed: { path: string; name: string; message: string }[];
}

export interface SearchOptions {
  /** How many results (default 20). */
  k?: number;
  /** Only photos whose caption contains every one of these words (case-insensitive); uncaptioned photos never match. */
  captionContains?: string;
}

export interface SearchHit {
  entry: LibraryEntry;
  /** Cosine similarity between the query and the photo's embedding. */
  score: number;
}

export type ExportFormat = 'jsonl' | 'csv';

export interface ExportOptions {
  /**
   * Candidate labels for the "best labels" column: each photo gets the `topLabels` labels whose text
   * embeddings (through `template`) are most similar to its image embedding. Without labels the column is empty.
   */
  labels?: readonly string[];
  /** Default 'a photo of a {label}'. */
  template?: string;
  /** Default 3. */
  topLabels?: number;
}

/** A best label of one photo, with its cosine similarity. */
export interface LabelScore {
  label: string;
  score: number;
}

export interface LibraryScope {
  library: string;
  /** The model key (modelKey() in library.ts): id, revision and weight dtype. */
  model: string;
}

/** A photo waiting to be indexed, with its bytes, so that indexing survives a reload of the page. */
export interface PendingPhoto {
  /** Queue order. */
  seq: number;
  /** SHA-256 of the bytes: the id its entry will have. */
  id: string;
  path: string;
  name: string;
  size: number;
  type: string;
  lastModified: number;
  file: Blob;
  /** How to caption it (null: no caption), as the add() call that queued it asked. */
  caption: CaptionSettings | null;
}

export interface LibraryStore {
  /** Every entry of the scope. */
  entries(scope: LibraryScope): Promise<LibraryEntry[]>;
  /** The queue in order: the first `limit` photos, or all. */
  pending(scope: LibraryScope, limit?: number): Promise<PendingPhoto[]>;
  /** Adds photos to the queue in one transaction. Rejects with the store's quota error when the disk is full. */
  enqueue(scope: LibraryScope, photos: readonly PendingPhoto[]): Promise<void>;
  /**
   * Stores `entries` and takes the queue items `done` (by seq) off the queue in one transaction: a batch is
   * either all indexed or all still queued.
   */
  commit(scope: LibraryScope, entries: readonly LibraryEntry[], done: readonly number[]): Promise<void>;
  removeEntry(scope: LibraryScope, id: string): Promise<void>;
  /** Empties the queue. */
  clearPending(scope: LibraryScope): Promise<void>;
  /** Deletes every entry and the queue. */
  clear(scope: LibraryScope): Promise<void>;
}
