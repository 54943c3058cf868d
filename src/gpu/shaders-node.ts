// Node (CLI, benchmarks): read shaders/**/*.wgsl from the package directory (or $COCA_SHADERS_DIR, for a
// bundled copy of the CLI or benchmark that runs away from the source tree).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { libraryFromRecord, type ShaderLibrary } from './shader-library';

export function nodeShaders(dir = process.env.COCA_SHADERS_DIR ?? fileURLToPath(new URL('../../shaders/', import.meta.url))): ShaderLibrary {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.wgsl')) continue;
    const path = join(entry.parentPath, entry.name);
    const name = relative(dir, path).split(sep).join('/').slice(0, -'.wgsl'.length);
    files[name] = readFileSync(path, 'utf8');
  }
  return libraryFromRecord(files);
}
