/**
 * The artifact page of the workbench sidebar: the artifact's chain as a graph
 * (click a node for its details; "Replay from here" on steps), its runs as a
 * lineage tree, the buttons Replay, Fork, Open manifest and Insert cell, and
 * the progress of the job it started (polled every 500 ms while it runs).
 * It shows what the server answers and sends the options; no replay logic.
 */
import { drawGraph, showProgress, statusOutcome } from './graph';
import type { IGraph, IGraphNode } from './graph';
import { showDetails } from './graph-renderer';
import { ApiError, isLive } from './api';
import type { IArtifact, IChain, IChainStep, IJob, IRun, ReplayApi, ReplayOptions } from './api';
import { forkOptions, isRestartable, lineageTree } from './lineage';
import type { ILineageNode } from './lineage';
import { renderManifest } from './renderer';
import type { IReplayManifest } from './tokens';
import { el } from './dom';

export const POLL_MS = 500;

export interface IPageHost {
  api: ReplayApi;
  /** Open a manifest in a main-area panel. */
  openManifest(manifest: IReplayManifest): void;
  /** Insert `%rerun_artifact <id>` into the active notebook; an error message if there is none. */
  insertCell(artifactId: string): string | null;
  /** Go back to the search list. */
  back(): void;
  /** Open another artifact's page. */
  openArtifact(artifactId: string): void;
  /** Show a graph in a main-area panel, where it has room. */
  openGraph(graph: IGraph, title: string): void;
}

export class ArtifactPage {
  readonly node: HTMLElement;

  constructor(readonly artifactId: string, private _host: IPageHost) {
    this.node = el('div', 'scidex-Page');
    this.node.dataset.artifactId = artifactId;
    const top = el('div', 'scidex-Page-top');
    top.appendChild(button('← Artifacts', 'scidex-Page-back', () => _host.back()));
    this._title = el('div', 'scidex-Page-title', artifactId);
    top.appendChild(this._title);
    this.node.appendChild(top);
    const actions = el('div', 'scidex-Page-actions');
    actions.append(
      button('Replay', 'scidex-Page-replay', () => this.start({}), 'Replay the chain that produced this artifact, on the server'),
      button('Fork…', 'scidex-Page-forkOpen', () => this._openFork(), 'Replay with changed parameters or inputs'),
      button('Open manifest', 'scidex-Page-openManifest', () => void this._openLastManifest()),
      button('Insert cell', 'scidex-Page-insert', () => this._insert(), `Insert %rerun_artifact ${artifactId} into the active notebook`)
    );
    this.node.appendChild(actions);
    this._error = el('div', 'scidex-Workbench-error');
    this._error.setAttribute('role', 'alert');
    this.node.appendChild(this._error);
    this._job = el('div', 'scidex-Page-job');
    this.node.appendChild(this._job);
    this._fork = el('div', 'scidex-Page-fork');
    this._fork.hidden = true;
    this.node.appendChild(this._fork);
    const chainHead = el('div', 'scidex-Page-chainHead');
    chainHead.append(
      el('h3', 'scidex-Workbench-heading', 'Chain'),
      button('Open in a tab', 'scidex-Page-openGraph', () => {
        if (this._chain) {
          this._host.openGraph(this._chain.graph, this._chain.artifact.name || this.artifactId);
        }
      }, 'Show the chain graph in the main area')
    );
    this.node.appendChild(chainHead);
    this._graph = el('div', 'scidex-Page-graph');
    this.node.appendChild(this._graph);
    this._details = el('div', 'scidex-Page-details');
    this.node.appendChild(this._details);
    this.node.appendChild(el('h3', 'scidex-Workbench-heading', 'Runs'));
    this._runs = el('div', 'scidex-Page-runs');
    this.node.appendChild(this._runs);
  }

  /**
   * Load the chain and the runs, and follow a job of this artifact that is
   * still running on the server (started from another tab, say).
   */
  async load(): Promise<void> {
    await Promise.all([this._loadChain(), this._loadRuns()]);
    try {
      const { jobs } = await this._host.api.jobs();
      const live = jobs.find(j => j.artifact_id === this.artifactId && isLive(j));
      if (live && !this._current) {
        this._follow(live);
      }
    } catch (error) {
      this._fail(error);
    }
  }

  /**
   * Start a replay job with `options`, then follow its progress.
   */
  async start(options: ReplayOptions): Promise<void> {
    this._fail(null);
    try {
      const { job_id } = await this._host.api.rerun(this.artifactId, options);
      this._follow(await this._host.api.job(job_id));
    } catch (error) {
      this._fail(error);
    }
  }

  dispose(): void {
    this._disposed = true;
    window.clearTimeout(this._timer);
  }

  private async _loadChain(): Promise<void> {
    try {
      this._chain = await this._host.api.chain(this.artifactId);
    } catch (error) {
      this._fail(error);
      return;
    }
    const a = this._chain.artifact;
    this._title.textContent = '';
    this._title.append(el('span', 'scidex-Workbench-kind', a.kind), ' ', el('span', 'scidex-Page-name', a.name || a.id));
    this._title.appendChild(el('code', 'scidex-Page-id', a.id));
    this._drawChain();
  }

  private _drawChain(): void {
    if (!this._chain) {
      return;
    }
    const parameters = new Map(this._chain.steps.map(s => [`step:${s.step_id}`, s.parameters]));
    const graph = {
      ...this._chain.graph,
      nodes: this._chain.graph.nodes.map(n =>
        n.parameters === undefined && parameters.has(n.id) ? { ...n, parameters: parameters.get(n.id) } : n
      )
    };
    this._graph.textContent = '';
    this._graph.appendChild(drawGraph(graph, { onSelect: node => this._select(node) }));
    this._details.textContent = '';
  }

  private _select(node: IGraphNode): void {
    for (const g of Array.from(this._graph.querySelectorAll('.scidex-Graph-node'))) {
      g.classList.toggle('scidex-Graph-selected', (g as SVGGElement).dataset.nodeId === node.id);
    }
    showDetails(this._details, node);
    const actions = el('div', 'scidex-Page-nodeActions');
    if (node.type === 'step' && node.step_id) {
      const stepId = node.step_id;
      actions.appendChild(
        button('Replay from here', 'scidex-Page-replayFrom', () => this.start({ from: stepId }),
          'Replay this step and the steps after it; keep the steps before it as recorded')
      );
      actions.appendChild(button('Fork this step…', 'scidex-Page-forkStep', () => this._openFork(stepId)));
    } else if (node.artifact_id && node.artifact_id !== this.artifactId) {
      const id = node.artifact_id;
      actions.appendChild(button('Open artifact', 'scidex-Page-openArtifact', () => this._host.openArtifact(id)));
    }
    this._details.appendChild(actions);
  }

  private async _loadRuns(): Promise<void> {
    try {
      this._runList = (await this._host.api.runs(this.artifactId)).runs;
    } catch (error) {
      this._fail(error);
      return;
    }
    this._runs.textContent = '';
    if (!this._runList.length) {
      this._runs.appendChild(el('div', 'scidex-Workbench-empty', 'No runs yet: Replay starts one.'));
      return;
    }
    this._runs.appendChild(this._tree(lineageTree(this._runList)));
  }

  private _tree(nodes: ILineageNode[]): HTMLElement {
    const list = el('ul', 'scidex-Lineage');
    for (const { run, children } of nodes) {
      const item = el('li', 'scidex-Lineage-item');
      item.dataset.runId = run.run_id;
      item.dataset.kind = run.kind;
      item.dataset.status = run.status;
      const row = el('div', 'scidex-Lineage-run');
      row.append(
        chip(`scidex-RunKind scidex-RunKind-${runKind(run.kind)} scidex-Lineage-kind`, run.kind),
        chip(`scidex-Chip-${statusOutcome(run.status)} scidex-Lineage-status`, run.status),
        el('code', 'scidex-Lineage-runId', run.run_id)
      );
      if (run.from_step) {
        row.appendChild(el('span', 'scidex-Lineage-from', `from ${run.from_step}`));
      }
      row.title = `started ${run.started_at ?? '?'}${run.completed_at ? `\ncompleted ${run.completed_at}` : ''}`;
      const acts = el('span', 'scidex-Lineage-actions');
      acts.appendChild(button('Manifest', 'scidex-Lineage-open', () => void this._openRun(run)));
      if (isRestartable(run)) {
        acts.appendChild(
          button('Restart', 'scidex-Lineage-restart', () => this.start({ restart: run.run_id }),
            'Replay again, reusing the steps that succeeded in this run and its ancestors')
        );
      }
      row.appendChild(acts);
      item.appendChild(row);
      if (children.length) {
        item.appendChild(this._tree(children));
      }
      list.appendChild(item);
    }
    return list;
  }

  private async _openRun(run: IRun): Promise<void> {
    try {
      this._host.openManifest((await this._host.api.run(run.run_id)).manifest);
    } catch (error) {
      this._fail(error);
    }
  }

  private async _openLastManifest(): Promise<void> {
    const last = this._runList.length ? this._runList[this._runList.length - 1] : null;
    if (this._manifest) {
      this._host.openManifest(this._manifest);
    } else if (last) {
      await this._openRun(last);
    } else {
      this._fail(new Error('no run yet: Replay first'));
    }
  }

  private _insert(): void {
    this._fail(null);
    const problem = this._host.insertCell(this.artifactId);
    if (problem) {
      this._fail(new Error(problem));
    }
  }

  /**
   * Follow a job: a progress bar and the current step in the graph while it
   * runs; its error, or its manifest, when it ends; then the runs and the
   * chain again.
   */
  private _follow(job: IJob): void {
    this._current = job;
    this._showJob(job);
    if (isLive(job)) {
      window.clearTimeout(this._timer);
      this._timer = window.setTimeout(() => void this._poll(job.job_id), POLL_MS);
    } else {
      void this._finished(job);
    }
  }

  private async _poll(jobId: string): Promise<void> {
    if (this._disposed) {
      return;
    }
    try {
      this._follow(await this._host.api.job(jobId));
    } catch (error) {
      this._fail(error);
    }
  }

  private async _finished(job: IJob): Promise<void> {
    this._manifest = job.manifest;
    await Promise.all([this._loadRuns(), this._loadChain()]);
    if (this._current?.job_id === job.job_id) {
      this._showJob(job);
    }
  }

  private _showJob(job: IJob): void {
    this._job.textContent = '';
    this._job.dataset.status = job.status;
    this._job.dataset.jobId = job.job_id;
    const head = el('div', 'scidex-Job-head');
    head.append(
      el('span', 'scidex-Job-title', 'Job'),
      chip(`scidex-Chip-${statusOutcome(job.status)} scidex-Job-status`, job.status)
    );
    if (job.run_id) {
      head.appendChild(el('code', 'scidex-Job-run', job.run_id));
    }
    if (isLive(job)) {
      head.appendChild(button('Cancel', 'scidex-Job-cancel', () => void this._cancel(job.job_id)));
    }
    this._job.appendChild(head);
    const { done, total, current } = job.progress;
    const bar = el('progress', 'scidex-Job-progress') as HTMLProgressElement;
    bar.max = Math.max(total ?? 0, 1);
    bar.value = total ? done : 0;
    if (!isLive(job) && job.status === 'done') {
      bar.value = bar.max;
    }
    const label = el('span', 'scidex-Job-count', `${done}/${total ?? '?'} steps`);
    const line = el('div', 'scidex-Job-bar');
    line.append(bar, label);
    if (current && isLive(job)) {
      line.appendChild(el('span', 'scidex-Job-current', `running ${this._stepName(current)}`));
    }
    this._job.appendChild(line);
    if (job.error) {
      this._job.appendChild(el('div', 'scidex-Workbench-error scidex-Job-error', job.error));
    }
    const graph = this._graph.querySelector('.scidex-Graph') as HTMLElement | null;
    if (graph && isLive(job)) {
      showProgress(graph, current, job.progress.steps);
    }
    if (job.manifest && !isLive(job)) {
      const manifest = job.manifest;
      const shown = el('div', 'scidex-Job-manifest scidex-Manifest');
      shown.appendChild(renderManifest(manifest));
      this._job.appendChild(shown);
      this._job.appendChild(button('Open manifest', 'scidex-Job-open', () => this._host.openManifest(manifest)));
    }
  }

  private async _cancel(jobId: string): Promise<void> {
    try {
      window.clearTimeout(this._timer);
      this._follow(await this._host.api.cancel(jobId));
    } catch (error) {
      this._fail(error);
    }
  }

  private _stepName(stepId: string): string {
    const step = this._chain?.steps.find(s => s.step_id === stepId);
    return step?.step_name || stepId;
  }

  /**
   * The Fork form: a step, its parameters as JSON, its inputs by artifact id;
   * Preview asks the server's dry run what would run, Fork starts the job.
   */
  private _openFork(stepId?: string): void {
    const steps = this._chain?.steps ?? [];
    const form = this._fork;
    form.textContent = '';
    form.hidden = false;
    if (!steps.length) {
      form.appendChild(el('div', 'scidex-Workbench-empty', 'A source artifact has no steps to fork.'));
      return;
    }
    form.appendChild(el('h3', 'scidex-Workbench-heading', 'Fork'));
    const select = el('select', 'scidex-Fork-step') as HTMLSelectElement;
    for (const s of steps) {
      const option = el('option', '', s.step_name ? `${s.step_name} (${s.step_id})` : s.step_id) as HTMLOptionElement;
      option.value = s.step_id;
      select.appendChild(option);
    }
    select.value = stepId && steps.some(s => s.step_id === stepId) ? stepId : steps[steps.length - 1].step_id;
    const params = el('textarea', 'scidex-Fork-parameters') as HTMLTextAreaElement;
    params.rows = 6;
    params.spellcheck = false;
    const inputs = el('div', 'scidex-Fork-inputs');
    const error = el('div', 'scidex-Workbench-error scidex-Fork-error');
    const preview = el('ul', 'scidex-Fork-preview');
    const fill = () => {
      const step = this._step(select.value);
      params.value = JSON.stringify(step?.parameters ?? {}, null, 2);
      inputs.textContent = '';
      (step?.inputs ?? []).forEach((id, i) => {
        const field = el('label', 'scidex-Fork-input');
        field.append(`input ${i}`);
        const box = el('input', 'scidex-Fork-inputId') as HTMLInputElement;
        box.value = id;
        box.dataset.index = String(i);
        field.appendChild(box);
        inputs.appendChild(field);
      });
      preview.textContent = '';
      error.textContent = '';
    };
    select.addEventListener('change', fill);
    fill();
    const options = (): ReplayOptions | null => {
      const step = this._step(select.value);
      error.textContent = '';
      if (!step) {
        return null;
      }
      const ids = Array.from(inputs.querySelectorAll('input')).map(i => (i as HTMLInputElement).value);
      try {
        return forkOptions(step, params.value, ids);
      } catch (e) {
        error.textContent = (e as Error).message;
        return null;
      }
    };
    const field = (name: string, control: HTMLElement) => {
      const wrap = el('label', 'scidex-Fork-field');
      wrap.append(el('span', '', name), control);
      form.appendChild(wrap);
    };
    field('step', select);
    field('parameters (JSON)', params);
    form.appendChild(inputs);
    const buttons = el('div', 'scidex-Page-actions');
    buttons.append(
      button('Preview', 'scidex-Fork-preview-button', async () => {
        const opts = options();
        if (!opts) {
          return;
        }
        try {
          const plan = await this._host.api.plan(this.artifactId, opts);
          preview.textContent = '';
          for (const s of plan.steps) {
            const item = el('li', 'scidex-Fork-planStep');
            item.dataset.action = s.action;
            item.dataset.stepId = s.step_id;
            item.append(chip(`scidex-Action scidex-Action-${actionClass(s.action)}`, s.action), ' ', s.step_name || s.step_id);
            if (s.reason) {
              item.append(el('span', 'scidex-Fork-reason', ` — ${s.reason}`));
            }
            preview.appendChild(item);
          }
        } catch (e) {
          error.textContent = messageOf(e);
        }
      }),
      button('Fork', 'scidex-Fork-run', () => {
        const opts = options();
        if (opts) {
          form.hidden = true;
          void this.start(opts);
        }
      }),
      button('Close', 'scidex-Fork-close', () => {
        form.hidden = true;
      })
    );
    form.append(buttons, error, preview);
  }

  private _step(stepId: string): IChainStep | undefined {
    return this._chain?.steps.find(s => s.step_id === stepId);
  }

  private _fail(error: unknown): void {
    this._error.textContent = error === null ? '' : messageOf(error);
  }

  private _title: HTMLElement;
  private _error: HTMLElement;
  private _job: HTMLElement;
  private _fork: HTMLElement;
  private _graph: HTMLElement;
  private _details: HTMLElement;
  private _runs: HTMLElement;
  private _chain: IChain | null = null;
  private _runList: IRun[] = [];
  private _current: IJob | null = null;
  private _manifest: IReplayManifest | null = null;
  private _timer = 0;
  private _disposed = false;
}

/**
 * One artifact of the search list: kind, name (or id), id, last run's status.
 */
export function artifactRow(a: IArtifact, open: () => void): HTMLElement {
  const row = el('li', 'scidex-Workbench-artifact');
  row.dataset.artifactId = a.id;
  row.tabIndex = 0;
  row.setAttribute('role', 'button');
  row.append(
    el('span', 'scidex-Workbench-kind', a.kind),
    el('span', 'scidex-Workbench-name', a.name || a.id),
    el('code', 'scidex-Workbench-id', a.id)
  );
  if (a.last_run) {
    const c = chip(`scidex-Chip-${statusOutcome(a.last_run.status)} scidex-Workbench-lastRun`, a.last_run.status);
    c.title = `${a.last_run.kind} ${a.last_run.run_id}`;
    row.appendChild(c);
  } else {
    row.appendChild(el('span', 'scidex-Workbench-lastRun scidex-Workbench-never', a.produced_by ? 'never replayed' : 'source'));
  }
  row.addEventListener('click', open);
  row.addEventListener('keydown', event => {
    if (event.key === 'Enter') {
      open();
    }
  });
  return row;
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiError || error instanceof Error) {
    return error.message.split('\n', 1)[0];
  }
  return String(error).split('\n', 1)[0];
}

function runKind(kind: string): string {
  return ['replay', 'restart', 'fork'].includes(kind) ? kind : 'other';
}

function actionClass(action: string): string {
  return ['execute', 'frozen', 'unreplayable', 'reuse'].includes(action) ? action : 'other';
}

function chip(cls: string, content: string): HTMLElement {
  return el('span', `scidex-Chip ${cls}`, content);
}

export function button(label: string, cls: string, onClick: () => void, title = ''): HTMLButtonElement {
  const node = el('button', `jp-Button jp-mod-styled jp-mod-reject scidex-Button ${cls}`, label) as HTMLButtonElement;
  node.type = 'button';
  if (title) {
    node.title = title;
  }
  node.addEventListener('click', () => onClick());
  return node;
}
