// The module worker's entry: the runtime, exposed to the page through comlink. Kernels come bundled by
// Vite (shaders/*.wgsl as text), so the worker needs no file access of its own.
import { expose } from 'comlink';
import { installErrorTransfer } from '../client/wire';
import { viteShaders } from '../gpu/shaders-vite';
import { CocaRuntime } from './runtime';

installErrorTransfer();
expose(new CocaRuntime({ shaders: viteShaders }));
