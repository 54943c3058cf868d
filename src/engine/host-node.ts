// The engine's host in Node (the CLI, benchmarks, tests): Dawn's WebGPU, the kernels read from shaders/,
// PNG and JPEG decoded as PIL does, and local folders and files by path.
import { OptionsError } from '../errors';
import { acquireDevice } from '../gpu/device';
import { nodeGpu } from '../gpu/dawn-node';
import { nodeShaders } from '../gpu/shaders-node';
import { directoryFolder } from '../io/folder-node';
import { isRepoId } from '../io/hub';
import { decodeImage, statOrNull, vocabularyFile } from './files-node';
import type { EngineHost } from './host';

/** http://…, https://…: a URL, not a path. */
const URL_PATTERN = /^[a-z][a-z0-9+.-]*:\/\//i;

export function nodeHost(options: { fetch?: typeof fetch } = {}): EngineHost {
  return {
    shaders: nodeShaders(),
    acquireDevice: () => acquireDevice({ gpu: nodeGpu() }),
    decodeImage: (image) => decodeImage(image),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    // A directory path is a folder; a repo id or URL that is no path is left to the loader.
    localFolder: async (model) => {
      const info = await statOrNull(model);
      if (info?.isDirectory()) return directoryFolder(model);
      if (info) throw new OptionsError(`model ${model} is a file: give the folder that holds it (with open_clip_config.json)`, 'model');
      if (isRepoId(model) || URL_PATTERN.test(model)) return null;
      throw new OptionsError(`model ${model}: no such folder, and not a hub repo id ('owner/name') or URL`, 'model');
    },
    localFile: async (path) => (URL_PATTERN.test(path) ? null : vocabularyFile(path)),
  };
}
