/**
 * The chain as a graph (schema `scidex-replay/graph/v1`, mime
 * `application/vnd.scidex.replay-graph+json`): recognise one, derive one from a
 * manifest's steps (their `inputs` and `outputs`), lay it out left to right
 * with dagre, and draw it as SVG.
 *
 * The graph is data from the server or a kernel: every string reaches the DOM
 * through `textContent` or an attribute value, and class names come only from
 * the fixed list of outcomes.
 */
import dagre from '@dagrejs/dagre';

import { outcomeOf, OUTCOMES } from './manifest';
import type { Outcome } from './manifest';
import type { IReplayManifest } from './tokens';

export const GRAPH_MIME_TYPE = 'application/vnd.scidex.replay-graph+json';
export const GRAPH_SCHEMA = 'scidex-replay/graph/v1';

/**
 * The run a graph is coloured by (`null`: not coloured).
 */
export interface IGraphRun {
  run_id: string;
  kind: string | null;
  status: string | null;
  parent_run_id: string | null;
  from_step: string | null;
}

/**
 * A node: a step (`step:<id>`) or an artifact (`artifact:<id>`).
 */
export interface IGraphNode {
  id: string;
  type: 'step' | 'artifact';
  label: string;
  outcome: string | null;
  step_id?: string;
  step_type?: string | null;
  method?: string | null;
  parameters?: unknown;
  position?: number;
  reused_from_run?: string | null;
  artifact_id?: string;
  kind?: string | null;
  role?: 'source' | 'intermediate' | 'target';
}

export interface IGraphEdge {
  source: string;
  target: string;
}

export interface IGraph {
  schema: string;
  target: string | null;
  run: IGraphRun | null;
  nodes: IGraphNode[];
  edges: IGraphEdge[];
}

/**
 * A node with its box: `x`, `y` is its centre, in px.
 */
export interface ILaidOutNode extends IGraphNode {
  x: number;
  y: number;
  width: number;
  height: number;
  /** The label as drawn (shortened to MAX_LABEL characters). */
  text: string;
  /** The second line: the artifact's kind, a step's type, or the run it was reused from. */
  detail: string;
}

export interface ILaidOutEdge extends IGraphEdge {
  points: { x: number; y: number }[];
}

export interface ILayout {
  width: number;
  height: number;
  nodes: ILaidOutNode[];
  edges: ILaidOutEdge[];
}

/** Labels longer than this are cut (the whole one is the node's tooltip). */
export const MAX_LABEL = 28;
const CHAR_WIDTH = 7;
const PADDING = 20;
const MARGIN = 12;
const MIN_SCALE = 0.75;

/**
 * Whether a value looks like a graph: an object with arrays `nodes` (each with
 * string `id`, `type` step|artifact) and `edges` (string `source`, `target`).
 */
export function isGraph(value: unknown): value is IGraph {
  if (!isObject(value) || !Array.isArray(value.nodes) || !Array.isArray(value.edges)) {
    return false;
  }
  return (
    value.nodes.every(
      n => isObject(n) && typeof n.id === 'string' && (n.type === 'step' || n.type === 'artifact')
    ) &&
    value.edges.every(
      e => isObject(e) && typeof e.source === 'string' && typeof e.target === 'string'
    )
  );
}

/**
 * The graph of the steps a manifest lists, as the server's `chain_graph` draws
 * it with that manifest: an edge from each of a step's `inputs` to it, and
 * from it to each of its `outputs` (a v1 step: its `target_artifact_id`).
 * Steps keep the manifest's order; artifacts are coloured by their output's
 * outcome.
 */
export function manifestToGraph(manifest: IReplayManifest): IGraph {
  const nodes: IGraphNode[] = [];
  const edges: IGraphEdge[] = [];
  const seen = new Map<string, IGraphNode>();
  const target = text(manifest.target_artifact_id) || null;
  const produced = new Set<string>();
  const outputsOf = (step: { [key: string]: unknown }) => {
    const outs = objects(step.outputs);
    if (outs.length) {
      return outs.map(o => ({ id: text(o.artifact_id), name: text(o.name), outcome: o }));
    }
    const id = text(step.target_artifact_id);
    return id ? [{ id, name: '', outcome: null }] : [];
  };
  const steps = manifest.steps as unknown as { [key: string]: unknown }[];
  for (const step of steps) {
    outputsOf(step).forEach(o => o.id && produced.add(o.id));
  }
  const artifact = (id: string, name: string, outcome: string | null) => {
    const nodeId = `artifact:${id}`;
    let node = seen.get(nodeId);
    if (!node) {
      node = {
        id: nodeId,
        type: 'artifact',
        artifact_id: id,
        label: name || id,
        kind: null,
        role: id === target ? 'target' : produced.has(id) ? 'intermediate' : 'source',
        outcome
      };
      seen.set(nodeId, node);
      nodes.push(node);
    } else if (outcome !== null) {
      node.outcome = outcome;
    }
    return nodeId;
  };
  steps.forEach((step, i) => {
    const stepId = text(step.step_id);
    const nodeId = `step:${stepId}`;
    for (const input of objects(step.inputs)) {
      const id = text(input.artifact_id);
      if (id) {
        edges.push({ source: artifact(id, text(input.name), null), target: nodeId });
      }
    }
    nodes.push({
      id: nodeId,
      type: 'step',
      step_id: stepId,
      label: text(step.step_name) || text(step.method).slice(0, 40) || stepId,
      step_type: text(step.step_type) || null,
      method: text(step.method) || null,
      position: i + 1,
      outcome: outcomeOf(step as { outcome?: unknown; reason?: unknown }),
      reused_from_run: text(step.reused_from_run) || null
    });
    for (const out of outputsOf(step)) {
      if (out.id) {
        const outcome = out.outcome ? outcomeOf(out.outcome) : null;
        edges.push({ source: nodeId, target: artifact(out.id, out.name, outcome) });
      }
    }
  });
  return {
    schema: GRAPH_SCHEMA,
    target,
    run: {
      run_id: manifest.run_id,
      kind: text(manifest.kind) || 'replay',
      status: text(manifest.status) || null,
      parent_run_id: text(manifest.parent_run_id) || null,
      from_step: text(manifest.from_step) || null
    },
    nodes,
    edges
  };
}

/**
 * Lay a graph out left to right (dagre, `rankdir: LR`). Node sizes come from
 * their label length, so the layout is the same in every browser and in jest.
 * Edges to or from unknown nodes are left out.
 */
export function layoutGraph(graph: IGraph): ILayout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 44, marginx: MARGIN, marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  const boxes = new Map<string, ILaidOutNode>();
  for (const node of graph.nodes) {
    const label = node.label || node.id;
    const shown = label.length > MAX_LABEL ? label.slice(0, MAX_LABEL - 1) + '…' : label;
    const detail = detailOf(node);
    const width = Math.max(shown.length, detail.length, 6) * CHAR_WIDTH + PADDING;
    const height = node.type === 'step' ? 44 : 40;
    const box: ILaidOutNode = { ...node, text: shown, detail, width, height, x: 0, y: 0 };
    boxes.set(node.id, box);
    g.setNode(node.id, { width, height });
  }
  const edges = graph.edges.filter(e => boxes.has(e.source) && boxes.has(e.target));
  for (const e of edges) {
    g.setEdge(e.source, e.target);
  }
  dagre.layout(g);
  for (const [id, box] of boxes) {
    const placed = g.node(id);
    box.x = placed.x;
    box.y = placed.y;
  }
  const info = g.graph();
  const size = (value: number | undefined) => (value !== undefined && isFinite(value) ? Math.ceil(value) : 0);
  return {
    width: size(info.width),
    height: size(info.height),
    nodes: [...boxes.values()],
    edges: edges.map(e => ({
      ...e,
      points: (g.edge(e.source, e.target).points ?? []).map((p: { x: number; y: number }) => ({ x: p.x, y: p.y }))
    }))
  };
}

/**
 * The outcome class a node is coloured by: one of the schema's outcomes,
 * `other`, or `none` when the run did not reach it.
 */
export function outcomeClass(outcome: string | null | undefined): Outcome | 'none' {
  if (outcome === null || outcome === undefined || outcome === '') {
    return 'none';
  }
  return (OUTCOMES as readonly string[]).includes(outcome) ? (outcome as Outcome) : 'other';
}

export interface IDrawOptions {
  /** Called when a node is clicked (or Enter/Space pressed on it). */
  onSelect?: (node: IGraphNode) => void;
  /** Draw the chips of the graph's run above it (default: yes). */
  chips?: boolean;
}

let drawn = 0;
const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * The graph as a `div.scidex-Graph`: chips from its `run` header (kind,
 * status, parent run, from step), then the SVG. Steps are rectangles,
 * artifacts rounded pills; each node carries `data-node-id`, `data-type` and
 * `data-outcome`, the target `scidex-Graph-target`.
 */
export function drawGraph(graph: IGraph, options: IDrawOptions = {}): HTMLElement {
  const root = document.createElement('div');
  root.className = 'scidex-Graph';
  if (options.chips !== false) {
    root.appendChild(runChips(graph.run));
  }
  const layout = layoutGraph(graph);
  if (!layout.nodes.length) {
    const empty = document.createElement('div');
    empty.className = 'scidex-Graph-empty';
    empty.textContent = 'no steps to draw';
    root.appendChild(empty);
    return root;
  }
  const marker = `scidex-Graph-arrow-${++drawn}`;
  const svg = svgEl('svg', 'scidex-Graph-svg');
  svg.setAttribute('width', String(layout.width));
  svg.setAttribute('height', String(layout.height));
  svg.setAttribute('viewBox', `0 0 ${layout.width} ${layout.height}`);
  // where the stylesheet lets it shrink to its container's width, not below 3/4 of its size
  svg.style.minWidth = `${Math.round(layout.width * MIN_SCALE)}px`;
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `chain graph: ${layout.nodes.length} nodes`);
  const defs = svgEl('defs');
  const arrow = svgEl('marker');
  arrow.id = marker;
  for (const [k, v] of Object.entries({
    viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto'
  })) {
    arrow.setAttribute(k, v);
  }
  arrow.appendChild(svgEl('path', 'scidex-Graph-arrowHead')).setAttribute('d', 'M0,0 L10,5 L0,10 z');
  defs.appendChild(arrow);
  svg.appendChild(defs);
  for (const edge of layout.edges) {
    const path = svgEl('path', 'scidex-Graph-edge');
    path.setAttribute('d', edge.points.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' '));
    path.setAttribute('marker-end', `url(#${marker})`);
    path.dataset.source = edge.source;
    path.dataset.target = edge.target;
    svg.appendChild(path);
  }
  for (const node of layout.nodes) {
    svg.appendChild(drawNode(node, graph.target, options));
  }
  root.appendChild(svg);
  return root;
}

/**
 * Mark the node of the step running now (`null`: none) and colour the steps
 * whose outcome is known, in a graph `drawGraph` drew.
 */
export function showProgress(
  root: HTMLElement,
  current: string | null,
  outcomes: { step_id: string; outcome: string | null }[]
): void {
  const known = new Map(outcomes.map(s => [`step:${s.step_id}`, s.outcome]));
  for (const node of Array.from(root.querySelectorAll<SVGGElement>('.scidex-Graph-node'))) {
    const id = node.dataset.nodeId ?? '';
    node.classList.toggle('scidex-Graph-current', current !== null && id === `step:${current}`);
    const outcome = known.get(id);
    if (outcome) {
      node.dataset.outcome = outcomeClass(outcome);
    }
  }
}

function drawNode(node: ILaidOutNode, target: string | null, options: IDrawOptions): SVGGElement {
  const g = svgEl('g', `scidex-Graph-node scidex-Graph-${node.type}`);
  g.dataset.nodeId = node.id;
  g.dataset.type = node.type;
  g.dataset.outcome = outcomeClass(node.outcome);
  if (node.type === 'artifact' && (node.role === 'target' || node.artifact_id === target)) {
    g.classList.add('scidex-Graph-target');
  }
  if (node.reused_from_run) {
    g.classList.add('scidex-Graph-reused');
    g.dataset.reusedFrom = node.reused_from_run;
  }
  g.setAttribute('transform', `translate(${node.x - node.width / 2},${node.y - node.height / 2})`);
  g.setAttribute('tabindex', '0');
  g.setAttribute('role', 'button');
  const title = svgEl('title');
  title.textContent = [
    node.label,
    node.type === 'step' ? node.method ?? '' : node.artifact_id ?? '',
    node.outcome ? `outcome: ${node.outcome}` : ''
  ].filter(Boolean).join('\n');
  g.appendChild(title);
  const shape = svgEl('rect', 'scidex-Graph-shape');
  shape.setAttribute('width', String(node.width));
  shape.setAttribute('height', String(node.height));
  const radius = node.type === 'artifact' ? node.height / 2 : 3;
  shape.setAttribute('rx', String(radius));
  shape.setAttribute('ry', String(radius));
  g.appendChild(shape);
  const label = svgEl('text', 'scidex-Graph-label');
  label.setAttribute('x', String(node.width / 2));
  label.setAttribute('y', String(node.height / 2 - 3));
  label.textContent = node.text;
  g.appendChild(label);
  const detail = svgEl('text', 'scidex-Graph-detail');
  detail.setAttribute('x', String(node.width / 2));
  detail.setAttribute('y', String(node.height / 2 + 12));
  detail.textContent = node.detail;
  g.appendChild(detail);
  if (options.onSelect) {
    const select = options.onSelect;
    g.addEventListener('click', () => select(node));
    g.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        select(node);
      }
    });
  }
  return g;
}

function detailOf(node: IGraphNode): string {
  if (node.type === 'step') {
    if (node.reused_from_run) {
      return `reused ${node.reused_from_run}`;
    }
    return [node.position ? `#${node.position}` : '', node.step_type ?? ''].filter(Boolean).join(' ');
  }
  return node.kind ?? (node.role === 'source' ? 'source' : '');
}

/**
 * The chips of a graph's run: its kind (replay/restart/fork), status, parent
 * run and from step; "not replayed yet" when it has no run.
 */
export function runChips(run: IGraphRun | null): HTMLElement {
  const node = document.createElement('div');
  node.className = 'scidex-Graph-run';
  const chip = (cls: string, content: string, title = '') => {
    const c = document.createElement('span');
    c.className = `scidex-Chip ${cls}`;
    c.textContent = content;
    if (title) {
      c.title = title;
    }
    node.appendChild(c);
    return c;
  };
  if (!run) {
    chip('scidex-Chip-other scidex-Graph-noRun', 'not replayed yet');
    return node;
  }
  const kind = run.kind || 'replay';
  chip(`scidex-RunKind scidex-RunKind-${['replay', 'restart', 'fork'].includes(kind) ? kind : 'other'}`, kind);
  if (run.status) {
    chip(`scidex-Chip-${statusOutcome(run.status)} scidex-Graph-status`, run.status).dataset.status = run.status;
  }
  const id = document.createElement('code');
  id.className = 'scidex-Graph-runId';
  id.textContent = run.run_id;
  node.appendChild(id);
  if (run.parent_run_id) {
    chip('scidex-Chip-other scidex-Graph-parent', `from run ${run.parent_run_id}`);
  }
  if (run.from_step) {
    chip('scidex-Chip-other scidex-Graph-fromStep', `from step ${run.from_step}`);
  }
  return node;
}

/**
 * The outcome whose colour a run status takes.
 */
export function statusOutcome(status: string | null | undefined): Outcome {
  switch (status) {
    case 'reproduced':
    case 'done':
      return 'reproduced';
    case 'differs':
      return 'output-differs';
    case 'failed':
      return 'failed';
    case 'aborted':
      return 'input-differs';
    case 'interrupted':
    case 'cancelled':
      return 'skipped';
    default:
      return 'other';
  }
}

function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, className = ''): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  if (className) {
    node.setAttribute('class', className);
  }
  return node;
}

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objects(value: unknown): { [key: string]: unknown }[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
