// The npm package's entry ('coca-webgpu'): the page API — createCoca, the weight cache, the named errors —
// and the photo library built on it. The widget is the package's second entry ('coca-webgpu/widget').
export * from './client/index';
export * from './library/index';
