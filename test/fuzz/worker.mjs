// Entry of the fuzz worker thread: the cases are TypeScript, so tsx's loader is registered first
// (as src/cli/coca.mjs does for the CLI).
import { register } from 'tsx/esm/api';

register();
await import('./worker-main.ts');
