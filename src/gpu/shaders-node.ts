// Node (CLI, benchmarks): read shaders/*.wgsl from the package directory (or $COCA_SHADERS_DIR, for a
// bundled copy of the CLI or benchmark that runs away from the source tree).
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { libraryFromRecord, type ShaderLibrary } from './shader-library';

export function nodeShaders(dir = process.env.COCA_SHADERS_DIR ?? fileURLToPath(new URL('../../shaders/', import.meta.url))): ShaderLibrary {
  const files: Record<string, string> = {};
  for (const file of readdirSync(dir)) {
    if (file.endsWith('.wgsl')) files[file.slice(0, -'.wgsl'.length)] = readFileSync(`${dir}/${file}`, 'utf8');
  }
  return libraryFromRecord(files);
}
