// Node (CLI, benchmarks): read shaders/*.wgsl from the package directory.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { libraryFromRecord, type ShaderLibrary } from './shader-library';

export function nodeShaders(dir = fileURLToPath(new URL('../../shaders/', import.meta.url))): ShaderLibrary {
  const files: Record<string, string> = {};
  for (const file of readdirSync(dir)) {
    if (file.endsWith('.wgsl')) files[file.slice(0, -'.wgsl'.length)] = readFileSync(`${dir}/${file}`, 'utf8');
  }
  return libraryFromRecord(files);
}
