/**
 * The one DOM helper the views share: an element with a class and text.
 */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  content?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (content !== undefined) {
    node.textContent = content;
  }
  return node;
}
