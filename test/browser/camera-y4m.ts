// A Y4M file (YUV4MPEG2, 4:2:0) of a still picture, for Chromium's fake camera
// (--use-file-for-fake-video-capture=…): the camera then shows that picture in every frame.
import { writeFileSync } from 'node:fs';

/** RGB(A) pixels → BT.601 limited-range YCbCr 4:2:0 (chroma averaged over each 2×2 block), `frames` identical frames. */
export function y4mBytes(image: { width: number; height: number; data: Uint8Array; channels: 3 | 4 }, frames = 1): Uint8Array {
  const { width, height, data, channels } = image;
  if (width % 2 !== 0 || height % 2 !== 0) throw new Error(`a 4:2:0 picture needs even sides, not ${width}×${height}`);
  const pixel = (x: number, y: number): [number, number, number] => {
    const at = (y * width + x) * channels;
    return [data[at]! / 255, data[at + 1]! / 255, data[at + 2]! / 255];
  };
  const clip = (v: number): number => Math.min(255, Math.max(0, Math.round(v)));
  const luma = new Uint8Array(width * height);
  const cb = new Uint8Array((width / 2) * (height / 2));
  const cr = new Uint8Array((width / 2) * (height / 2));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      luma[y * width + x] = clip(16 + 65.481 * r + 128.553 * g + 24.966 * b);
    }
  }
  for (let y = 0; y < height; y += 2) {
    for (let x = 0; x < width; x += 2) {
      let u = 0;
      let v = 0;
      for (const [dx, dy] of [
        [0, 0],
        [1, 0],
        [0, 1],
        [1, 1],
      ] as const) {
        const [r, g, b] = pixel(x + dx, y + dy);
        u += 128 - 37.797 * r - 74.203 * g + 112 * b;
        v += 128 + 112 * r - 93.786 * g - 18.214 * b;
      }
      cb[(y / 2) * (width / 2) + x / 2] = clip(u / 4);
      cr[(y / 2) * (width / 2) + x / 2] = clip(v / 4);
    }
  }
  const header = new TextEncoder().encode(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\n`);
  const marker = new TextEncoder().encode('FRAME\n');
  const frameBytes = marker.length + luma.length + cb.length + cr.length;
  const out = new Uint8Array(header.length + frames * frameBytes);
  out.set(header);
  for (let f = 0; f < frames; f++) {
    let at = header.length + f * frameBytes;
    for (const part of [marker, luma, cb, cr]) {
      out.set(part, at);
      at += part.length;
    }
  }
  return out;
}

export function writeY4m(path: string, image: Parameters<typeof y4mBytes>[0], frames = 1): void {
  writeFileSync(path, y4mBytes(image, frames));
}
