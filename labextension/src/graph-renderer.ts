/**
 * The mime renderer of `application/vnd.scidex.replay-graph+json`: a chain
 * graph (as `scidex_replay.surfaces.graph.chain_graph` writes it) drawn left to
 * right, with its run's chips. Clicking a node shows its details below.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { drawGraph, GRAPH_MIME_TYPE, isGraph } from './graph';
import type { IGraphNode } from './graph';

export const GRAPH_CLASS = 'scidex-GraphView';

export class GraphWidget extends Widget implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options.mimeType;
    this.addClass(GRAPH_CLASS);
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[this._mimeType];
    this.node.textContent = '';
    if (!isGraph(data)) {
      const invalid = document.createElement('div');
      invalid.className = 'scidex-Graph-invalid';
      invalid.textContent = 'Not a scidex-replay graph: expected an object with nodes and edges.';
      this.node.appendChild(invalid);
      return Promise.resolve();
    }
    const details = document.createElement('div');
    details.className = 'scidex-Graph-details';
    this.node.appendChild(drawGraph(data, { onSelect: node => showDetails(details, node) }));
    this.node.appendChild(details);
    return Promise.resolve();
  }

  private _mimeType: string;
}

/**
 * Fill `into` with a node's details: what it is, its method and parameters
 * (steps), its outcome and the run it was reused from.
 */
export function showDetails(into: HTMLElement, node: IGraphNode): void {
  into.textContent = '';
  const list = document.createElement('dl');
  list.className = 'scidex-Graph-detailList';
  const item = (name: string, value: string, pre = false) => {
    if (!value) {
      return;
    }
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    const content = document.createElement(pre ? 'pre' : 'span');
    content.textContent = value;
    dd.appendChild(content);
    dd.dataset.field = name;
    list.append(dt, dd);
  };
  item(node.type, node.label);
  if (node.type === 'step') {
    item('step id', node.step_id ?? '');
    item('type', node.step_type ?? '');
    item('method', node.method ?? '');
    if (node.parameters !== undefined) {
      item('parameters', JSON.stringify(node.parameters, null, 2), true);
    }
  } else {
    item('artifact id', node.artifact_id ?? '');
    item('kind', node.kind ?? '');
    item('role', node.role ?? '');
  }
  item('outcome', node.outcome ?? 'not replayed in this run');
  item('reused from', node.reused_from_run ?? '');
  into.appendChild(list);
}

export const graphRendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [GRAPH_MIME_TYPE],
  defaultRank: 0,
  createRenderer: options => new GraphWidget(options)
};
