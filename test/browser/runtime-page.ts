// The page the runtime tests drive: the client API on window, for page.evaluate to call.
import * as client from '../../src/index';

export type ClientModule = typeof client;

declare global {
  interface Window {
    client: ClientModule;
    ready: boolean;
  }
}

window.client = client;
window.ready = true;
