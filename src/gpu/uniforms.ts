// One declaration per uniform struct: the WGSL text and the byte packing come from the same object,
// so the shader and the host can never disagree about field order or offsets.

export type ScalarType = 'u32' | 'i32' | 'f32';
export type UniformFields = Record<string, ScalarType>;
export type UniformValues<F extends UniformFields> = { [K in keyof F]: number };

export interface UniformLayout<F extends UniformFields> {
  readonly fields: F;
  /** Bytes, rounded up to 16 as WGSL requires for a uniform-buffer struct. */
  readonly byteSize: number;
  /** `struct Name { a: u32, b: f32, }` for pasting into a shader. */
  wgsl(structName: string): string;
  /** Writes the values at `byteOffset` of `view`. Missing or non-finite u32 values throw. */
  pack(values: UniformValues<F>, view: DataView, byteOffset?: number): void;
}

export function defineUniforms<F extends UniformFields>(fields: F): UniformLayout<F> {
  const names = Object.keys(fields) as (keyof F & string)[];
  // Scalars only: each takes 4 bytes at 4-byte alignment, so offset = 4 × index.
  const byteSize = Math.max(16, Math.ceil((names.length * 4) / 16) * 16);
  return {
    fields,
    byteSize,
    wgsl(structName: string): string {
      const body = names.map((n) => `  ${n}: ${fields[n]},`).join('\n');
      return `struct ${structName} {\n${body}\n}`;
    },
    pack(values: UniformValues<F>, view: DataView, byteOffset = 0): void {
      names.forEach((name, i) => {
        const v = values[name];
        const at = byteOffset + 4 * i;
        switch (fields[name]) {
          case 'u32':
            if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`uniform ${name}=${v} is not a u32`);
            view.setUint32(at, v, true);
            break;
          case 'i32':
            if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`uniform ${name}=${v} is not an i32`);
            view.setInt32(at, v, true);
            break;
          case 'f32':
            view.setFloat32(at, v, true);
            break;
        }
      });
    },
  };
}
