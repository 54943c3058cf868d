// The module worker's entry: an engine on the browser's host, exposed to the page through comlink. Kernels
// come bundled by Vite (shaders/*.wgsl as text), so the worker needs no file access of its own.
import { expose } from 'comlink';
import { browserHost } from '../engine/host-browser';
import { installErrorTransfer } from '../protocol/errors';
import { WorkerAdapter } from './adapter';

installErrorTransfer();
expose(new WorkerAdapter(browserHost));
