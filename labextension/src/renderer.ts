/**
 * The mime renderer of `application/vnd.scidex.replay-manifest+json`: a table
 * of the replayed steps with a status chip each, under the run's lineage. A
 * step shows by its name when it has one, its id beside; when a step wrote
 * several outputs, an outputs column lists them with a chip each, so that the
 * one that differs shows. Under the reason of a step whose outputs' bytes
 * differ comes one collapsible block per such output: what its comparator
 * says (the summary, always visible), and the differences, each with its
 * kind, where and detail (open at first when the content differs, closed when
 * the output is equivalent). Under the reason of a step the replay explained
 * (`--explain`) comes its explanation: the summary, one chip per factor
 * (`changes-output` highlighted, how the output changed as its tooltip, muted
 * when only metadata changed; `no-effect` muted; `not-tested` grey, the
 * reason as its tooltip) and how many re-runs it took.
 *
 * The manifest is data: every string in it reaches the DOM through
 * `textContent` or an attribute value, never as markup, and class names come
 * only from the fixed lists of outcomes and factor verdicts.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { drawGraph, manifestToGraph } from './graph';

import {
  isManifest,
  Outcome,
  outcomeOf,
  OUTCOMES,
  statusOf
} from './manifest';
import { KINDS } from './schema';
import type { Status } from './schema';
import { IReplayManifest, IReplayStep, MIME_TYPE } from './tokens';
import { el } from './dom';

/**
 * The class of the rendered manifest's root node.
 */
export const CLASS_NAME = 'scidex-Manifest';

/**
 * A widget that renders a replay manifest.
 */
export class ManifestWidget extends Widget implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options.mimeType;
    this.addClass(CLASS_NAME);
  }

  /**
   * Render the manifest held by the mime model into the widget's node.
   */
  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[this._mimeType];
    const content = isManifest(data)
      ? Private.renderManifest(data)
      : Private.renderInvalid();
    this.node.textContent = '';
    this.node.appendChild(content);
    return Promise.resolve();
  }

  private _mimeType: string;
}

/**
 * The DOM of a manifest (as the renderer shows it), or of the message for
 * data that is not one: for views outside an output area (the workbench).
 */
export function renderManifest(data: unknown): HTMLElement {
  return isManifest(data) ? Private.renderManifest(data) : Private.renderInvalid();
}

/**
 * The file name a manifest is saved as: `manifest-<run_id>.json` (as
 * `manifest_view.download_name` names it), the run id kept to the characters
 * of a file name.
 */
export function downloadName(manifest: IReplayManifest): string {
  const runId = String(manifest.run_id ?? '').replace(/[^A-Za-z0-9_.-]/g, '_');
  return `manifest-${runId || 'run'}.json`;
}

/**
 * Creates manifest widgets. Safe: it renders text only, so it also renders in
 * untrusted notebooks.
 */
export const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [MIME_TYPE],
  defaultRank: 0,
  createRenderer: options => new ManifestWidget(options)
};

namespace Private {
  const HASH_CHARS = 12;
  /**
   * Outcomes of an output whose bytes differ, which a comparator judged.
   */
  const COMPARED: ReadonlySet<string> = new Set(['equivalent', 'output-differs']);
  const KNOWN_KINDS: ReadonlySet<string> = new Set(KINDS);
  /** The verdicts a factor of an explanation can have (the schema's `explanation.factors`). */
  const KNOWN_VERDICTS: ReadonlySet<string> = new Set(['changes-output', 'no-effect', 'not-tested']);

  /**
   * The verdict of a v2 run by its status: the words, and the outcome whose
   * chip colour it takes. A run whose outputs differ did not reproduce; it
   * did not fail.
   */
  const STATUS_LABELS: { [status in Status]: [string, Outcome] } = {
    running: ['running', 'other'],
    reproduced: ['reproduced', 'reproduced'],
    differs: ['did not reproduce', 'output-differs'],
    failed: ['failed', 'failed'],
    interrupted: ['interrupted', 'skipped'],
    aborted: ['aborted', 'input-differs']
  };

  /**
   * The DOM of a valid manifest.
   */
  export function renderManifest(manifest: IReplayManifest): HTMLElement {
    const root = el('div', 'scidex-Manifest-body');
    root.appendChild(header(manifest));
    root.appendChild(lineage(manifest));
    root.appendChild(summary(manifest));
    root.appendChild(table(manifest.steps));
    root.appendChild(graph(manifest));
    return root;
  }

  /**
   * The DOM shown for data that is not a manifest.
   */
  export function renderInvalid(): HTMLElement {
    return el(
      'div',
      'scidex-Manifest-invalid',
      'Not a scidex-replay manifest: expected an object with run_id and steps.'
    );
  }

  /**
   * The run's chain as a graph, from its steps' inputs and outputs; open.
   */
  function graph(manifest: IReplayManifest): HTMLElement {
    const node = el('details', 'scidex-Manifest-graph');
    node.open = true;
    node.appendChild(el('summary', '', 'chain graph'));
    node.appendChild(drawGraph(manifestToGraph(manifest), { chips: false }));
    return node;
  }

  function header(manifest: IReplayManifest): HTMLElement {
    const node = el('div', 'scidex-Manifest-header');
    const title = el('span', 'scidex-Manifest-title');
    title.append('Replay run ');
    title.appendChild(code(manifest.run_id, 'scidex-Manifest-runId'));
    if (manifest.target_artifact_id !== undefined) {
      title.append(' of ');
      title.appendChild(code(manifest.target_artifact_id));
    }
    node.appendChild(title);
    const status = statusOf(manifest);
    const [label, look] = status ? STATUS_LABELS[status] : okLabel(manifest);
    const verdict = chip(look, 'scidex-Manifest-verdict');
    verdict.textContent = label;
    node.appendChild(verdict);
    if (!status && typeof manifest.status === 'string' && manifest.status) {
      node.appendChild(el('span', 'scidex-Manifest-status', manifest.status));
    }
    node.appendChild(download(manifest));
    return node;
  }

  /**
   * A link that saves the manifest as `manifest-<run_id>.json`, as the
   * widget's does: the file is made from the manifest when the link is
   * clicked (an object URL, freed a minute later), not held in the page.
   */
  function download(manifest: IReplayManifest): HTMLElement {
    const name = downloadName(manifest);
    const link = el('a', 'scidex-Manifest-download', `download ${name}`);
    link.download = name;
    link.href = '#';
    link.addEventListener('click', () => {
      const body = new Blob([JSON.stringify(manifest, null, 2)], {
        type: 'application/json'
      });
      const url = URL.createObjectURL(body);
      link.href = url;
      window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
    });
    return link;
  }

  /**
   * The verdict of a v1 manifest (or one without a known status), from its
   * `ok`; its status, if any, is then shown beside as it is.
   */
  function okLabel(manifest: IReplayManifest): [string, Outcome] {
    return manifest.ok === true
      ? ['reproduced', 'reproduced']
      : ['not reproduced', 'failed'];
  }

  function lineage(manifest: IReplayManifest): HTMLElement {
    const node = el('dl', 'scidex-Manifest-lineage');
    const item = (name: string, value: Node | string, cls: string) => {
      const wrap = el('div', `scidex-Manifest-lineageItem ${cls}`);
      wrap.appendChild(el('dt', '', name));
      const dd = el('dd');
      dd.append(value);
      wrap.appendChild(dd);
      node.appendChild(wrap);
    };
    const kind = text(manifest.kind) || 'replay';
    const kindNode = el('span', 'scidex-Manifest-kind', kind);
    item('kind', kindNode, 'scidex-Manifest-lineage-kind');
    const parent = text(manifest.parent_run_id);
    item(
      'parent run',
      parent ? code(parent) : el('span', 'scidex-Manifest-none', 'none'),
      'scidex-Manifest-lineage-parent'
    );
    const fromStep = text(manifest.from_step);
    if (fromStep) {
      item('from step', code(fromStep), 'scidex-Manifest-lineage-from');
    }
    const reused = distinct(manifest.steps.map(s => text(s.reused_from_run)));
    if (reused.length) {
      const span = el('span');
      reused.forEach((runId, i) => {
        if (i) {
          span.append(', ');
        }
        span.appendChild(code(runId));
      });
      item('reuses runs', span, 'scidex-Manifest-lineage-reused');
    }
    const env: { live?: unknown; replay?: unknown } =
      typeof manifest.env === 'object' && manifest.env !== null ? manifest.env : {};
    const replay = env.replay;
    if (typeof replay === 'string') {
      const live: unknown[] = Array.isArray(env.live) ? env.live : [];
      const same = live.length > 0 && live.every(h => h === replay);
      const envNode = el(
        'span',
        same ? 'scidex-Manifest-envSame' : 'scidex-Manifest-envDiffers',
        same ? 'as recorded' : 'differs from recorded'
      );
      envNode.title = `replay ${replay}\nrecorded ${live.map(text).join(', ')}`;
      item('environment', envNode, 'scidex-Manifest-lineage-env');
    }
    const started = text(manifest.started_at);
    if (started) {
      item('started', started, 'scidex-Manifest-lineage-started');
    }
    return node;
  }

  function summary(manifest: IReplayManifest): HTMLElement {
    const node = el('div', 'scidex-Manifest-summary');
    const counts = new Map<Outcome, number>();
    for (const step of manifest.steps) {
      const outcome = outcomeOf(step);
      counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    }
    for (const outcome of [...OUTCOMES, 'other' as const]) {
      const n = counts.get(outcome);
      if (n) {
        const c = chip(outcome);
        c.textContent = `${n} ${outcome}`;
        node.appendChild(c);
      }
    }
    if (!manifest.steps.length) {
      node.appendChild(el('span', 'scidex-Manifest-none', 'no steps'));
    }
    return node;
  }

  function table(steps: IReplayStep[]): HTMLElement {
    const tableNode = el('table', 'scidex-Manifest-steps');
    const head = el('thead');
    const headRow = el('tr');
    // The outputs column only when it says more than the hash columns.
    const withOutputs = steps.some(step => outputsOf(step).length > 1);
    for (const name of [
      '#',
      'step',
      'type',
      'status',
      'reason',
      ...(withOutputs ? ['outputs'] : []),
      'recorded output',
      'replayed output',
      'reused from',
      'time'
    ]) {
      headRow.appendChild(el('th', '', name));
    }
    head.appendChild(headRow);
    tableNode.appendChild(head);
    const body = el('tbody');
    steps.forEach((step, i) => body.appendChild(row(step, i + 1, withOutputs)));
    tableNode.appendChild(body);
    return tableNode;
  }

  /**
   * A step's outputs whose bytes differ (outcome `equivalent` or
   * `output-differs`), each with its name; a step without `outputs` (v1)
   * stands for its one output with its own fields.
   */
  function comparedOutputs(step: IReplayStep): { [key: string]: unknown }[] {
    const outputs = outputsOf(step);
    const all = outputs.length
      ? outputs
      : [{ outcome: step.outcome, comparison: step.comparison, artifact_id: step.target_artifact_id }];
    return all.filter(o => COMPARED.has(outcomeOf(o)));
  }

  /**
   * What the comparator said of one output, as a `<details>`: its summary
   * line (output name, outcome chip, comparator, summary), then the
   * differences as a grid of kind, where and detail. An output that nothing
   * could compare says so.
   */
  function comparison(output: { [key: string]: unknown }): HTMLElement {
    const outcome = outcomeOf(output);
    const node = el('details', 'scidex-Manifest-comparison');
    node.dataset.outcome = outcome;
    const head = el('summary', 'scidex-Manifest-comparisonHead');
    const name = text(output.name) || text(output.artifact_id);
    if (name) {
      head.append(code(name, 'scidex-Manifest-comparisonOutput'), ' ');
    }
    head.append(el('span', `scidex-Manifest-comparisonOutcome scidex-Outcome-${outcome}`, outcome), ': ');
    const c = asObject(output.comparison);
    if (!c) {
      head.append(
        el('span', 'scidex-Manifest-comparisonSummary', 'no comparison: the recorded bytes were not in the store')
      );
      node.appendChild(head);
      return node;
    }
    head.append(el('span', 'scidex-Manifest-comparator', text(c.comparator)), ': ');
    head.append(el('span', 'scidex-Manifest-comparisonSummary', text(c.summary)));
    node.appendChild(head);
    const differences = Array.isArray(c.differences)
      ? c.differences.map(asObject).filter((d): d is { [key: string]: unknown } => d !== null)
      : [];
    node.open = outcome === 'output-differs';
    if (!differences.length) {
      node.appendChild(el('div', 'scidex-Manifest-none', 'no differences listed'));
      return node;
    }
    // A grid of divs, not a table: the steps table's rows stay one per step.
    const grid = el('div', 'scidex-Manifest-differences');
    const headRow = el('div', 'scidex-Manifest-differencesHead');
    for (const title of ['kind', 'where', 'detail']) {
      headRow.appendChild(el('span', '', title));
    }
    grid.appendChild(headRow);
    for (const d of differences) {
      const line = el('div', 'scidex-Manifest-difference');
      const kind = text(d.kind);
      const known = KNOWN_KINDS.has(kind) ? kind : 'other';
      line.dataset.kind = known;
      const kindCell = el('span');
      kindCell.appendChild(el('span', `scidex-Kind scidex-Kind-${known}`, kind || '?'));
      line.appendChild(kindCell);
      line.appendChild(el('span', 'scidex-Manifest-differenceWhere', text(d.where)));
      line.appendChild(el('span', 'scidex-Manifest-differenceDetail', text(d.detail)));
      grid.appendChild(line);
    }
    node.appendChild(grid);
    return node;
  }

  function asObject(value: unknown): { [key: string]: unknown } | null {
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as { [key: string]: unknown })
      : null;
  }

  function row(
    step: IReplayStep,
    position: number,
    withOutputs: boolean
  ): HTMLElement {
    const outcome = outcomeOf(step);
    const tr = el('tr', 'scidex-Manifest-step');
    tr.dataset.outcome = outcome;
    const cell = (content: Node | string, cls = '') => {
      const td = el('td', cls);
      td.append(content);
      tr.appendChild(td);
    };
    cell(String(position), 'scidex-Manifest-position');
    cell(stepLabel(step), 'scidex-Manifest-stepLabel');
    cell(text(step.step_type), 'scidex-Manifest-stepType');
    cell(outcomeChip(step), 'scidex-Manifest-outcome');
    cell(reason(step), 'scidex-Manifest-reason');
    if (withOutputs) {
      cell(outputList(step), 'scidex-Manifest-outputs');
    }
    const live = text(step.output_hash_live);
    const replayed = text(step.output_hash_replayed);
    cell(hash(live), 'scidex-Manifest-hashLive');
    const replayedNode = hash(replayed);
    if (live && replayed) {
      replayedNode.classList.add(
        live === replayed ? 'scidex-Manifest-same' : 'scidex-Manifest-differs'
      );
    }
    cell(replayedNode, 'scidex-Manifest-hashReplayed');
    const reused = text(step.reused_from_run);
    cell(reused ? code(reused) : '', 'scidex-Manifest-reusedFrom');
    cell(duration(step.duration_s), 'scidex-Manifest-duration');
    return tr;
  }

  /**
   * The step by its name, its id beside, when it has one; else by its id. The
   * method shows as the tooltip of what names the step.
   */
  function stepLabel(step: IReplayStep): HTMLElement {
    const name = text(step.step_name);
    const stepId = code(text(step.step_id), 'scidex-Manifest-stepId');
    const label = name ? el('span', 'scidex-Manifest-stepName', name) : stepId;
    const method = text(step.method);
    if (method) {
      label.title = method;
    }
    if (!name) {
      return label;
    }
    const both = el('span');
    both.append(label, ' ', stepId);
    return both;
  }

  /**
   * A step's `outputs` entries that are objects; none for a v1 step.
   */
  function outputsOf(step: IReplayStep): { [key: string]: unknown }[] {
    const outputs: unknown = step.outputs;
    return Array.isArray(outputs)
      ? outputs.filter(o => typeof o === 'object' && o !== null && !Array.isArray(o))
      : [];
  }

  /**
   * One line per output of a step that wrote several: its name (its artifact
   * id as the tooltip, or in its place when it has no name) and its chip.
   */
  function outputList(step: IReplayStep): HTMLElement {
    const node = el('div', 'scidex-Manifest-outputList');
    const outputs = outputsOf(step);
    if (outputs.length < 2) {
      return node;
    }
    for (const output of outputs) {
      const line = el('div', 'scidex-Manifest-output');
      const artifactId = text(output.artifact_id);
      const name = code(text(output.name) || artifactId, 'scidex-Manifest-outputName');
      if (artifactId) {
        name.title = artifactId;
      }
      const status = outcomeChip(output);
      line.dataset.outcome = status.dataset.outcome;
      line.append(name, ' ', status);
      node.appendChild(line);
    }
    return node;
  }

  /**
   * The chip of a step's or an output's outcome; an outcome not in the schema
   * is shown as its text on an `other` chip.
   */
  function outcomeChip(item: { outcome?: unknown; reason?: unknown }): HTMLElement {
    const outcome = outcomeOf(item);
    const node = chip(outcome);
    node.textContent = outcome === 'other' ? text(item.outcome) || '?' : outcome;
    return node;
  }

  /**
   * The words of a reason after its outcome code: `'failed: exit 1'` →
   * `'exit 1'`; empty for a bare `reproduced`.
   */
  function detail(step: IReplayStep): string {
    const reason = text(step.reason);
    const colon = reason.indexOf(':');
    const code = (colon < 0 ? reason : reason.slice(0, colon)).trim();
    if (code === outcomeOf(step)) {
      return colon < 0 ? '' : reason.slice(colon + 1).trim();
    }
    return reason;
  }

  /**
   * The reason's words (unless a block's summary says them), then a block per
   * output whose bytes differ.
   */
  function reason(step: IReplayStep): Node | string {
    const compared = comparedOutputs(step);
    const explained = asObject((step as { explanation?: unknown }).explanation);
    if (!compared.length && !explained) {
      return detail(step);
    }
    const node = el('div');
    const words = detail(step);
    const summaries = compared.map(o => text(asObject(o.comparison)?.summary));
    if (words && !summaries.includes(words)) {
      // the words say more than the blocks' summaries (several outputs, or no comparison)
      node.appendChild(el('span', 'scidex-Manifest-reasonText', words));
    }
    for (const output of compared) {
      node.appendChild(comparison(output));
    }
    if (explained) {
      node.appendChild(explanation(explained));
    }
    return node;
  }

  /**
   * What the explanation of a step says: its summary, a chip per factor in
   * the manifest's order, and `N re-runs, S s`.
   */
  function explanation(e: { [key: string]: unknown }): HTMLElement {
    const node = el('div', 'scidex-Manifest-explanation');
    node.appendChild(el('div', 'scidex-Manifest-explanationSummary', text(e.summary)));
    const factors = asObject(e.factors) ?? {};
    const details = asObject(e.details) ?? {};
    const notTested = asObject(e.not_tested) ?? {};
    const chips = el('div', 'scidex-Manifest-factors');
    for (const factor of Object.keys(factors)) {
      chips.appendChild(factorChip(factor, text(factors[factor]), details, notTested));
    }
    node.appendChild(chips);
    const cost: string[] = [];
    if (typeof e.runs === 'number') {
      cost.push(`${e.runs} re-run${e.runs === 1 ? '' : 's'}`);
    }
    if (typeof e.seconds === 'number' && isFinite(e.seconds)) {
      cost.push(`${e.seconds.toFixed(1)} s`);
    }
    if (cost.length) {
      node.appendChild(el('div', 'scidex-Manifest-explanationCost', cost.join(', ')));
    }
    return node;
  }

  /**
   * One factor as a chip styled by its verdict: `changes-output` (or
   * `metadata` when its detail starts with `metadata:`) with the detail as
   * tooltip, `no-effect`, or `not-tested` with the reason as tooltip; a
   * verdict not in the schema is `other`.
   */
  function factorChip(
    factor: string,
    verdict: string,
    details: { [key: string]: unknown },
    notTested: { [key: string]: unknown }
  ): HTMLElement {
    let style = KNOWN_VERDICTS.has(verdict) ? verdict : 'other';
    let label = factor;
    let tip = '';
    if (verdict === 'changes-output') {
      tip = text(details[factor]);
      if (tip.startsWith('metadata:')) {
        style = 'metadata';
        label = `${factor} (metadata only)`;
      }
    } else if (verdict === 'not-tested') {
      tip = text(notTested[factor]);
    }
    const node = el('span', `scidex-Factor scidex-Factor-${style}`, label);
    node.dataset.factor = factor;
    node.dataset.verdict = verdict;
    if (tip) {
      node.title = tip;
    }
    return node;
  }

  function hash(value: string): HTMLElement {
    if (!value) {
      return el('span', 'scidex-Manifest-none', '—');
    }
    const node = code(value.slice(0, HASH_CHARS), 'scidex-Manifest-hash');
    node.title = value;
    return node;
  }

  function duration(value: unknown): string {
    return typeof value === 'number' && isFinite(value)
      ? `${value.toFixed(2)} s`
      : '';
  }

  function chip(outcome: Outcome, extra = ''): HTMLElement {
    const node = el(
      'span',
      `scidex-Chip scidex-Chip-${outcome}${extra ? ' ' + extra : ''}`,
      outcome
    );
    node.dataset.outcome = outcome;
    return node;
  }

  function code(value: string, cls = ''): HTMLElement {
    return el('code', cls, value);
  }


  /**
   * A manifest value as display text: strings as they are, numbers and
   * booleans printed, anything else (null, objects) empty.
   */
  function text(value: unknown): string {
    if (typeof value === 'string') {
      return value;
    }
    if (typeof value === 'number' || typeof value === 'boolean') {
      return String(value);
    }
    return '';
  }

  function distinct(values: string[]): string[] {
    return [...new Set(values.filter(v => v))];
  }
}
