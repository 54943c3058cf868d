// Where kernel sources come from: shaders/**/*.wgsl, bundled by Vite in browsers and read from disk in Node.
// A shader's name is its path under shaders/ without the extension: 'matmul/tiled', 'lib/gelu'.
export interface ShaderLibrary {
  /** Source text of shaders/<name>.wgsl. Throws if there is no such file. */
  source(name: string): string;
}

export function libraryFromRecord(files: Record<string, string>): ShaderLibrary {
  return {
    source(name: string): string {
      const text = files[name];
      if (text === undefined) {
        throw new Error(`no shader named "${name}" (have: ${Object.keys(files).sort().join(', ')})`);
      }
      return text;
    },
  };
}
