// The photo library API, exported from the package entry (src/index.ts).
export { createLibrary, DEFAULT_LIBRARY_NAME, Library, MAX_PHOTO_BYTES, modelKey } from './library';
export { EmbeddingIndex, topK, type Ranked } from './rank';
export { IMAGE_EXTENSIONS, isImageFile } from './files';
export { MemoryLibraryStore, type LibraryScope, type LibraryStore, type PendingPhoto } from './store';
export { LIBRARY_DB_NAME } from './store-idb';
export { THUMBNAIL_SIZE } from './thumbnail';
export type {
  AddOptions,
  AddResult,
  ExportFormat,
  ExportOptions,
  IndexProgress,
  LabelScore,
  LibraryEntry,
  LibraryInput,
  LibraryModel,
  LibraryOptions,
  SearchHit,
  SearchOptions,
} from './types';
