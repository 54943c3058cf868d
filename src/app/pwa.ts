// Installable, offline app: registers the service worker (built sites only), offers "Install app" where the
// browser allows it, and shows an update prompt when a new version has been downloaded in the background.
import { byId } from './dom';

/** How often an open page checks for a new version (besides each load and each return to the tab). */
const UPDATE_CHECK_INTERVAL_MS = 60 * 60 * 1000;

interface BeforeInstallPromptEvent extends Event {
  prompt(): Promise<void>;
  userChoice: Promise<{ outcome: 'accepted' | 'dismissed' }>;
}

export function setUpInstallButton(): void {
  const button = byId<HTMLButtonElement>('install-button');
  let deferred: BeforeInstallPromptEvent | null = null;
  window.addEventListener('beforeinstallprompt', (event) => {
    event.preventDefault();
    deferred = event as BeforeInstallPromptEvent;
    button.hidden = false;
  });
  button.addEventListener('click', async () => {
    if (!deferred) return;
    button.hidden = true;
    await deferred.prompt();
    deferred = null;
  });
  window.addEventListener('appinstalled', () => {
    button.hidden = true;
    deferred = null;
  });
}

export async function registerServiceWorker(): Promise<ServiceWorkerRegistration | undefined> {
  if (!('serviceWorker' in navigator) || !import.meta.env.PROD) return undefined;
  const registration = await navigator.serviceWorker.register('./sw.js', { scope: './' });
  const banner = byId<HTMLElement>('update-banner');
  let reloading = false;

  const offer = (worker: ServiceWorker): void => {
    banner.hidden = false;
    byId<HTMLButtonElement>('update-reload').onclick = () => {
      reloading = true;
      worker.postMessage({ type: 'SKIP_WAITING' });
    };
    byId<HTMLButtonElement>('update-later').onclick = () => {
      banner.hidden = true;
    };
  };
  // Only an update the person asked for reloads the page; the very first install never does.
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (reloading) location.reload();
  });
  const watch = (worker: ServiceWorker | null): void => {
    worker?.addEventListener('statechange', () => {
      if (worker.state === 'installed' && navigator.serviceWorker.controller) offer(worker);
    });
  };
  if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
  watch(registration.installing);
  registration.addEventListener('updatefound', () => watch(registration.installing));
  const check = (): void => void registration.update().catch(() => undefined);
  document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && check());
  setInterval(check, UPDATE_CHECK_INTERVAL_MS);
  return registration;
}
