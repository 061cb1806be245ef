// jsdom has no DragEvent, which @lumino/dragdrop (loaded by @lumino/widgets)
// subclasses at import time; JupyterLab's own jest shim does the same.
if (typeof globalThis.DragEvent === 'undefined') {
  globalThis.DragEvent = class DragEvent extends MouseEvent {};
}
