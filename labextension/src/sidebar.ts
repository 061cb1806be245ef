/**
 * The workbench sidebar (a left-area panel, like jupyterlab-git's): a search
 * box over the registry's artifacts (debounced, a page at a time), an
 * artifact's page (`page.ts`) when one is clicked, and the manifests kept in
 * the active notebook's metadata, each openable even after the notebook's
 * outputs were cleared.
 */
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import type { IArtifact, ReplayApi } from './api';
import { statusOutcome } from './graph';
import type { IGraph } from './graph';
import { parseQuery } from './lineage';
import { el } from './dom';
import { ArtifactPage, artifactRow, button, messageOf } from './page';
import type { IPageHost } from './page';
import { IManifestKeeper, IReplayManifest, METADATA_KEY } from './tokens';

export const SEARCH_DEBOUNCE_MS = 300;
export const PAGE_SIZE = 50;

export const workbenchIcon = new LabIcon({
  name: 'scidex-replay:workbench',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<rect x="1" y="3" width="7" height="6" rx="1"/><rect x="16" y="3" width="7" height="6" rx="3"/>' +
    '<rect x="1" y="15" width="7" height="6" rx="3"/><rect x="16" y="15" width="7" height="6" rx="1"/>' +
    '<path d="M8 5.5h8v1H8zM8 17.5h8v1H8zM11.5 6h1v12h-1z"/></g></svg>'
});

export interface ISidebarOptions {
  api: ReplayApi;
  tracker: INotebookTracker;
  keeper: IManifestKeeper;
  openManifest(manifest: IReplayManifest): void;
  openGraph(graph: IGraph, title: string): void;
  insertCell(artifactId: string): string | null;
}

export class WorkbenchSidebar extends Widget {
  constructor(private _options: ISidebarOptions) {
    super();
    this.id = 'scidex-replay-workbench';
    this.addClass('scidex-Workbench');
    this.title.icon = workbenchIcon;
    this.title.caption = 'Replay workbench';
    const header = el('header', 'scidex-Workbench-header', 'Replay workbench');
    this.node.appendChild(header);
    this._search = el('div', 'scidex-Workbench-searchView');
    this._query = el('input', 'jp-mod-styled scidex-Workbench-search') as HTMLInputElement;
    this._query.type = 'search';
    this._query.placeholder = 'Search artifacts: name, id, or kind:KIND';
    this._query.setAttribute('aria-label', 'Search artifacts');
    this._query.addEventListener('input', () => {
      window.clearTimeout(this._debounce);
      this._debounce = window.setTimeout(() => void this.search(), SEARCH_DEBOUNCE_MS);
    });
    this._search.appendChild(this._query);
    this._error = el('div', 'scidex-Workbench-error');
    this._error.setAttribute('role', 'alert');
    this._total = el('div', 'scidex-Workbench-total');
    this._list = el('ul', 'scidex-Workbench-artifacts');
    this._more = button('More', 'scidex-Workbench-more', () => void this.search(true));
    this._more.hidden = true;
    this._search.append(this._error, this._total, this._list, this._more);
    this._kept = el('section', 'scidex-Workbench-kept');
    this._search.appendChild(this._kept);
    this.node.appendChild(this._search);
    this._pageHost = el('div', 'scidex-Workbench-pageHost');
    this.node.appendChild(this._pageHost);
    _options.tracker.currentChanged.connect(this._watchNotebook, this);
    _options.keeper.manifestKept.connect(() => this.showKept(), this);
    this._watchNotebook();
  }

  /**
   * List the artifacts matching the search box: the first page, or the next
   * one after those shown (`more`).
   */
  async search(more = false): Promise<void> {
    const { q, kind } = parseQuery(this._query.value);
    const offset = more ? this._shown : 0;
    const seq = ++this._seq;
    try {
      const page = await this._options.api.searchArtifacts(q, offset, PAGE_SIZE, kind);
      if (seq !== this._seq) {
        return; // a newer search answered or will
      }
      this._error.textContent = '';
      if (!more) {
        this._list.textContent = '';
        this._shown = 0;
      }
      for (const a of page.artifacts) {
        this._list.appendChild(artifactRow(a, () => void this.openArtifact(a.id, a)));
      }
      this._shown += page.artifacts.length;
      this._total.textContent = `${this._shown} of ${page.total} artifacts`;
      this._more.hidden = this._shown >= page.total;
    } catch (error) {
      if (seq === this._seq) {
        this._error.textContent = messageOf(error);
      }
    }
  }

  /**
   * Show an artifact's page in place of the search list.
   */
  async openArtifact(artifactId: string, _artifact?: IArtifact): Promise<ArtifactPage> {
    this._page?.dispose();
    const host: IPageHost = {
      api: this._options.api,
      openManifest: m => this._options.openManifest(m),
      insertCell: id => this._options.insertCell(id),
      back: () => this.back(),
      openArtifact: id => void this.openArtifact(id),
      openGraph: (graph, title) => this._options.openGraph(graph, title)
    };
    const page = new ArtifactPage(artifactId, host);
    this._page = page;
    this._pageHost.textContent = '';
    this._pageHost.appendChild(page.node);
    this._search.hidden = true;
    await page.load();
    return page;
  }

  back(): void {
    this._page?.dispose();
    this._page = null;
    this._pageHost.textContent = '';
    this._search.hidden = false;
    void this.search();
    this.showKept();
  }

  /**
   * List the manifests kept in the active notebook's metadata.
   */
  showKept(): void {
    const panel = this._options.tracker.currentWidget;
    const model = panel?.content.model ?? null;
    this._kept.textContent = '';
    this._kept.appendChild(el('h3', 'scidex-Workbench-heading', 'Kept in this notebook'));
    if (!panel || !model) {
      this._kept.appendChild(el('div', 'scidex-Workbench-empty', 'No notebook is active.'));
      return;
    }
    const kept = Object.values(this._options.keeper.manifests(model));
    if (!kept.length) {
      this._kept.appendChild(el('div', 'scidex-Workbench-empty', `No manifests kept in ${panel.title.label}.`));
      return;
    }
    const list = el('ul', 'scidex-Workbench-keptList');
    for (const manifest of kept) {
      const item = el('li', 'scidex-Workbench-keptItem');
      item.dataset.runId = manifest.run_id;
      item.tabIndex = 0;
      item.setAttribute('role', 'button');
      const status = typeof manifest.status === 'string' ? manifest.status : manifest.ok ? 'reproduced' : 'failed';
      item.append(
        el('span', `scidex-Chip scidex-Chip-${statusOutcome(status)}`, status),
        el('code', 'scidex-Workbench-keptRun', manifest.run_id),
        el('span', 'scidex-Workbench-keptTarget', typeof manifest.target_artifact_id === 'string' ? manifest.target_artifact_id : '')
      );
      const open = () => this._options.openManifest(manifest);
      item.addEventListener('click', open);
      item.addEventListener('keydown', event => event.key === 'Enter' && open());
      list.appendChild(item);
    }
    this._kept.appendChild(list);
  }

  /**
   * The first search when the panel is first shown (not at JupyterLab's start).
   */
  protected onAfterShow(): void {
    this._onShown();
  }

  protected onAfterAttach(): void {
    if (this.isVisible) {
      this._onShown();
    }
  }

  private _onShown(): void {
    if (!this._searched) {
      this._searched = true;
      void this.search();
    }
    this.showKept();
  }

  private _watchNotebook(): void {
    const panel: NotebookPanel | null = this._options.tracker.currentWidget;
    if (panel && !this._watched.has(panel)) {
      this._watched.add(panel);
      const refresh = () => this.showKept();
      panel.context.ready.then(refresh).catch(() => undefined);
      panel.context.model.metadataChanged.connect((_, change) => {
        if (change.key === METADATA_KEY) {
          refresh();
        }
      });
    }
    this.showKept();
  }

  private _search: HTMLElement;
  private _query: HTMLInputElement;
  private _error: HTMLElement;
  private _total: HTMLElement;
  private _list: HTMLElement;
  private _more: HTMLButtonElement;
  private _kept: HTMLElement;
  private _pageHost: HTMLElement;
  private _page: ArtifactPage | null = null;
  private _debounce = 0;
  private _seq = 0;
  private _shown = 0;
  private _searched = false;
  private _watched = new WeakSet<NotebookPanel>();
}
