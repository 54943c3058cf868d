// Browser builds (and vitest): Vite inlines every shaders/**/*.wgsl as a string at build time.
import { libraryFromRecord, type ShaderLibrary } from './shader-library';

const modules = import.meta.glob('../../shaders/**/*.wgsl', { query: '?raw', import: 'default', eager: true });

export const viteShaders: ShaderLibrary = libraryFromRecord(
  Object.fromEntries(Object.entries(modules).map(([path, text]) => [path.replace(/^.*\/shaders\//, '').replace(/\.wgsl$/, ''), text as string])),
);
