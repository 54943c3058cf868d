// A deliberately small preprocessor for shaders/*.wgsl:
//   #if NAME / #else / #endif   (NAME is a boolean flag; nesting allowed)
//   {{NAME}}                     substituted by a value (used for uniform struct text and types)
// Everything that can be an `override` constant is one; this is only for what WGSL cannot express
// (a binding's element type, an optional binding, an optional epilogue).

export type ShaderDefines = Record<string, boolean | number | string>;

export function preprocessWgsl(source: string, defines: ShaderDefines, shaderName = 'shader'): string {
  const out: string[] = [];
  const stack: boolean[] = []; // one entry per open #if: is its current branch taken?
  const isActive = (): boolean => stack.every(Boolean);
  source.split('\n').forEach((line, index) => {
    const directive = /^\s*#(if|else|endif)\b\s*(!?)(\w*)/.exec(line);
    if (!directive) {
      if (isActive()) out.push(line);
      else out.push(''); // keep line numbers stable for compiler messages
      return;
    }
    const [, kind, negate, name] = directive;
    if (kind === 'if') {
      if (!name) throw new Error(`${shaderName}:${index + 1}: #if needs a flag name`);
      const value = defines[name];
      if (value === undefined) throw new Error(`${shaderName}:${index + 1}: flag ${name} is not defined`);
      const truthy = Boolean(value);
      stack.push(negate ? !truthy : truthy);
    } else if (kind === 'else') {
      if (stack.length === 0) throw new Error(`${shaderName}:${index + 1}: #else without #if`);
      stack[stack.length - 1] = !stack[stack.length - 1];
    } else {
      if (stack.pop() === undefined) throw new Error(`${shaderName}:${index + 1}: #endif without #if`);
    }
    out.push('');
  });
  if (stack.length > 0) throw new Error(`${shaderName}: unterminated #if`);
  return out.join('\n').replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = defines[name];
    if (value === undefined) throw new Error(`${shaderName}: substitution {{${name}}} is not defined`);
    return String(value);
  });
}
