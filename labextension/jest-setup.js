// jsdom has no DragEvent, which @lumino/dragdrop (loaded by @lumino/widgets)
// subclasses at import time; JupyterLab's own jest shim does the same.
if (typeof globalThis.DragEvent === 'undefined') {
  globalThis.DragEvent = class DragEvent extends MouseEvent {};
}

// jsdom has no structuredClone, which dagre uses (browsers and Node have it).
if (typeof globalThis.structuredClone === 'undefined') {
  const v8 = require('v8');
  globalThis.structuredClone = value => v8.deserialize(v8.serialize(value));
}
