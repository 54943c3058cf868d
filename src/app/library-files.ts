// Photos from the page's three ways in: a file or folder <input> (webkitdirectory), a dropped folder
// (DataTransferItem.webkitGetAsEntry), and showDirectoryPicker where the browser has it. Every way gives
// the photos of the folder and its sub-folders, with their paths inside it, images only, sorted by path.
import { byPath, isImageFile } from '../library/files';

export interface PickedPhotos {
  photos: { file: File; path: string }[];
  /** Files that are not images (by type or extension), left out. */
  skipped: number;
}

function collect(found: { file: File; path: string }[]): PickedPhotos {
  const photos = found.filter(({ file }) => isImageFile(file.name, file.type));
  return { photos: byPath(photos), skipped: found.length - photos.length };
}

/** From an <input type=file> (with or without webkitdirectory). */
export function fromFileList(files: FileList | readonly File[]): PickedPhotos {
  return collect([...files].map((file) => ({ file, path: file.webkitRelativePath || file.name })));
}

/** What a drop holds: file-system entries (files and whole folders) and, where the browser gives no entry, plain files. */
export interface DroppedItems {
  entries: FileSystemEntry[];
  files: File[];
}

/** Taken while the drop event is live (the DataTransfer is emptied after it); read afterwards with fromDrop. */
export function itemsOfDrop(transfer: DataTransfer): DroppedItems {
  const dropped: DroppedItems = { entries: [], files: [] };
  for (const item of transfer.items) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry();
    const file = entry ? null : item.getAsFile();
    if (entry) dropped.entries.push(entry);
    else if (file) dropped.files.push(file);
  }
  return dropped;
}

export async function fromDrop(dropped: DroppedItems): Promise<PickedPhotos> {
  const found: { file: File; path: string }[] = dropped.files.map((file) => ({ file, path: file.name }));
  const visit = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      found.push({ file, path: entry.fullPath.replace(/^\//, '') });
    } else if (entry.isDirectory) {
      for (const child of await readAllEntries(entry as FileSystemDirectoryEntry)) await visit(child);
    }
  };
  for (const entry of dropped.entries) await visit(entry);
  return collect(found);
}

/** readEntries answers in chunks (100 at a time in Chromium) until it answers with none. */
async function readAllEntries(directory: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = directory.createReader();
  const all: FileSystemEntry[] = [];
  for (;;) {
    const chunk = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (chunk.length === 0) return all;
    all.push(...chunk);
  }
}

/** The File System Access API's directory handle, as far as we use it (not in every TypeScript DOM lib yet). */
interface DirectoryHandle {
  kind: 'directory';
  name: string;
  values(): AsyncIterable<DirectoryHandle | { kind: 'file'; name: string; getFile(): Promise<File> }>;
}

type DirectoryPicker = (options?: { id?: string; mode?: 'read' }) => Promise<DirectoryHandle>;

function directoryPicker(): DirectoryPicker | undefined {
  return (window as unknown as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;
}

export function canPickDirectory(): boolean {
  return typeof directoryPicker() === 'function';
}

/** Asks for a folder with showDirectoryPicker; undefined when the person cancels the dialog. */
export async function pickDirectory(): Promise<PickedPhotos | undefined> {
  const picker = directoryPicker();
  if (!picker) return undefined;
  let root: DirectoryHandle;
  try {
    root = await picker({ id: 'coca-library', mode: 'read' });
  } catch (error) {
    if ((error as Error).name === 'AbortError') return undefined;
    throw error;
  }
  const found: { file: File; path: string }[] = [];
  const visit = async (directory: DirectoryHandle, prefix: string): Promise<void> => {
    for await (const handle of directory.values()) {
      if (handle.kind === 'file') found.push({ file: await handle.getFile(), path: `${prefix}${handle.name}` });
      else await visit(handle, `${prefix}${handle.name}/`);
    }
  };
  await visit(root, `${root.name}/`);
  return collect(found);
}
