// Thumbnails for the library (browsers): the photo scaled so its longest side is THUMBNAIL_SIZE pixels,
// stored as a JPEG of a few kilobytes. One photo is decoded at a time and its bitmap closed at once.
import { ImageDecodeError } from '../errors';

/** Longest side in CSS pixels: sharp in a 80-px grid cell on a 2× screen. */
export const THUMBNAIL_SIZE = 160;
/** JPEG quality: about 5 KB for a 160-px photo, with no visible blocking at that size. */
const THUMBNAIL_QUALITY = 0.8;

export async function makeThumbnail(image: Blob): Promise<Blob> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(image, { imageOrientation: 'from-image' });
  } catch (error) {
    throw new ImageDecodeError(`the browser could not decode this ${image.type || 'file'} for its thumbnail: ${(error as Error).message}`);
  }
  try {
    const scale = Math.min(1, THUMBNAIL_SIZE / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d');
    if (!context) throw new ImageDecodeError('could not create a 2D canvas for the thumbnail');
    // JPEG has no alpha: transparent parts show white, as on the page.
    context.fillStyle = '#fff';
    context.fillRect(0, 0, width, height);
    context.imageSmoothingQuality = 'high';
    context.drawImage(bitmap, 0, 0, width, height);
    return await canvas.convertToBlob({ type: 'image/jpeg', quality: THUMBNAIL_QUALITY });
  } finally {
    bitmap.close();
  }
}
