// A CocaModel in this thread (Node: the bench, tests) as the library's LibraryModel: the same decode →
// preprocess → encode steps the browser worker takes for each call.
import type { CaptionOptions, CaptionResult } from '../client/types';
import { decodeImageBytes } from '../image/decode-node';
import { preprocess } from '../image/index';
import type { CocaModel } from '../model/coca';
import type { ClipTokenizer } from '../text/index';
import type { LibraryModel } from './types';

export class NodeLibraryModel implements LibraryModel {
  constructor(
    private readonly model: CocaModel,
    private readonly tokenizer: ClipTokenizer,
    readonly info: LibraryModel['info'],
  ) {}

  async encodeImage(images: readonly Blob[]): Promise<Float32Array[]> {
    return this.model.encodeImages(await Promise.all(images.map((image) => this.pixels(image))));
  }

  encodeText(texts: readonly string[]): Promise<Float32Array[]> {
    return this.model.encodeTexts(this.tokenizer.tokenize(texts, this.model.config.text.contextLength));
  }

  async caption(image: Blob, options: CaptionOptions = {}): Promise<CaptionResult> {
    const started = performance.now();
    const { onToken: _onToken, ...settings } = options;
    const tokens = await this.model.caption(await this.pixels(image), settings);
    return { text: this.tokenizer.captionText(tokens), tokens, ms: performance.now() - started };
  }

  private async pixels(image: Blob): Promise<Float32Array> {
    const rgba = await decodeImageBytes(new Uint8Array(await image.arrayBuffer()));
    const { vision, preprocess: p } = this.model.config;
    return preprocess(rgba, { size: vision.imageSize, mean: p.mean, std: p.std });
  }
}
