// JPEG files with an EXIF orientation tag, for the orientation rule's tests.

/** The same JPEG with an EXIF APP1 segment holding only an Orientation tag. */
export function withExifOrientation(jpeg: Uint8Array, orientation: number): Uint8Array {
  // Little-endian TIFF header, IFD0 with one entry: tag 0x0112, type SHORT, count 1, value.
  const tiff = [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0, 0, 0, 0, 0];
  const payload = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff]; // "Exif\0\0"
  const length = payload.length + 2;
  const segment = [0xff, 0xe1, length >> 8, length & 0xff, ...payload];
  const out = new Uint8Array(jpeg.length + segment.length);
  out.set(jpeg.subarray(0, 2));
  out.set(segment, 2);
  out.set(jpeg.subarray(2), 2 + segment.length);
  return out;
}
