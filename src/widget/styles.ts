// Shadow DOM styles. Pages restyle the elements with these custom properties (all inherit, so setting them
// on a parent works) or with ::part(image | caption | results | item | label | bar | value | status | progress),
// and on <coca-camera> ::part(video | button | rate):
//   --coca-font-family, --coca-font-size, --coca-color, --coca-muted-color, --coca-background,
//   --coca-accent, --coca-track, --coca-radius, --coca-gap, --coca-error-color, --coca-image-max-height
//   (the video's too), --coca-video-background, --coca-button-color
export const BASE_STYLES = `
:host {
  display: block;
  font-family: var(--coca-font-family, inherit);
  font-size: var(--coca-font-size, inherit);
  color: var(--coca-color, inherit);
  background: var(--coca-background, transparent);
  border-radius: var(--coca-radius, 8px);
}
:host([hidden]) { display: none; }
figure { margin: 0; display: flex; flex-direction: column; gap: var(--coca-gap, 0.5rem); }
img {
  display: block;
  max-width: 100%;
  max-height: var(--coca-image-max-height, 240px);
  object-fit: contain;
  border-radius: var(--coca-radius, 8px);
}
img:not([src]), img[src=''] { display: none; }
:host([hide-image]) img { display: none; }
.status { display: flex; align-items: center; gap: 0.5rem; font-size: 0.85em; color: var(--coca-muted-color, #6b6880); }
.status:has(.status-text:empty):has(progress[hidden]) { display: none; }
progress { flex: 1; max-width: 12rem; accent-color: var(--coca-accent, #4b3fc7); height: 0.5rem; }
progress[hidden] { display: none; }
.error { color: var(--coca-error-color, #b3261e); }
`;
