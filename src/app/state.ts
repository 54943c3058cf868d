// What the panels share: the loaded model, the images, and the timings of the last calls. Panels listen for
// the change events and redraw their part.
import type { Coca } from '../client/types';

export interface ImageEntry {
  id: number;
  name: string;
  blob: Blob;
  /** For the original thumbnail; revoked when the image is removed. */
  objectUrl: string;
  width: number;
  height: number;
  /** The 8-bit center crop the model sees, once a model is loaded. */
  modelView?: ImageData;
}

export type AppEvent = 'model' | 'images' | 'selection' | 'timings' | 'cache';

export interface StepTiming {
  label: string;
  ms: number;
}

export class AppState extends EventTarget {
  coca: Coca | null = null;
  images: ImageEntry[] = [];
  selectedImageId: number | null = null;
  /** The last time each kind of call took, keyed by kind (caption, similarity, …). */
  readonly timings = new Map<string, StepTiming>();
  private nextImageId = 1;

  emit(event: AppEvent): void {
    this.dispatchEvent(new Event(event));
  }

  on(event: AppEvent, listener: () => void): void {
    this.addEventListener(event, listener);
  }

  setModel(coca: Coca | null): void {
    this.coca = coca;
    this.emit('model');
  }

  addImage(entry: Omit<ImageEntry, 'id'>): ImageEntry {
    const image: ImageEntry = { ...entry, id: this.nextImageId++ };
    this.images.push(image);
    this.selectedImageId ??= image.id;
    this.emit('images');
    this.emit('selection');
    return image;
  }

  removeImage(id: number): void {
    const image = this.images.find((i) => i.id === id);
    if (!image) return;
    URL.revokeObjectURL(image.objectUrl);
    this.images = this.images.filter((i) => i.id !== id);
    if (this.selectedImageId === id) this.selectedImageId = this.images[0]?.id ?? null;
    this.emit('images');
    this.emit('selection');
  }

  select(id: number): void {
    this.selectedImageId = id;
    this.emit('selection');
  }

  get selectedImage(): ImageEntry | undefined {
    return this.images.find((i) => i.id === this.selectedImageId);
  }

  recordTiming(kind: string, label: string, ms: number): void {
    this.timings.set(kind, { label, ms });
    this.emit('timings');
  }
}
