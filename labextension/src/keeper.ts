/**
 * The manifest keeper: watches the output models of every notebook's code
 * cells and copies each replay manifest they hold into the notebook metadata
 * (`metadata.scidex_replay.manifests[run_id]`).
 *
 * It works on the models, not on the rendered cells, so it also sees outputs
 * of cells that are scrolled out of view, and of notebooks opened with outputs
 * that an older session wrote.
 *
 * It also settles the outputs the replay widget leaves while a run can be
 * restarted (the widget and the manifest in one bundle): when the notebook is
 * opened, and when its kernel restarts or changes, the widget's model is gone,
 * so the bundle keeps only the static manifest (never "model not found").
 */
import type { ICellModel, ICodeCellModel } from '@jupyterlab/cells';
import type * as nbformat from '@jupyterlab/nbformat';
import type { INotebookModel, INotebookTracker } from '@jupyterlab/notebook';
import type { IOutputAreaModel } from '@jupyterlab/outputarea';
import { Signal } from '@lumino/signaling';

import {
  keptManifests,
  manifestsInOutputs,
  withManifest,
  withoutWidgetView
} from './manifest';
import { IManifestKeeper, IReplayManifest, METADATA_KEY } from './tokens';

export class ManifestKeeper implements IManifestKeeper {
  /**
   * Start keeping the manifests of the notebooks the tracker knows, now and later.
   */
  constructor(tracker: INotebookTracker) {
    tracker.forEach(panel => this.watch(panel.content.model));
    tracker.widgetAdded.connect((_, panel) => {
      this.watch(panel.content.model);
      // The model's cells are replaced when the file is loaded.
      panel.context.ready
        .then(() => {
          this.watch(panel.content.model);
          this.settle(panel.content.model);
        })
        .catch(() => undefined); // closed before it loaded
      const settle = () => this.settle(panel.content.model);
      panel.sessionContext.kernelChanged.connect(settle);
      panel.sessionContext.statusChanged.connect((_, status) => {
        if (status === 'restarting' || status === 'dead') {
          settle();
        }
      });
    });
  }

  get manifestKept(): Signal<IManifestKeeper, IManifestKeeper.IKept> {
    return this._manifestKept;
  }

  manifests(model: INotebookModel): { [runId: string]: IReplayManifest } {
    return keptManifests(model.getMetadata(METADATA_KEY));
  }

  /**
   * Watch a notebook model: its current cells, and cells added later.
   */
  watch(model: INotebookModel | null): void {
    if (!model || model.isDisposed) {
      return;
    }
    if (!this._models.has(model)) {
      this._models.add(model);
      model.cells.changed.connect((_, change) => {
        for (const cell of change.newValues) {
          this._watchCell(model, cell);
        }
      });
    }
    for (let i = 0; i < model.cells.length; i++) {
      this._watchCell(model, model.cells.get(i));
    }
  }

  /**
   * Drop the widget view from every output bundle of `model` that also holds
   * a manifest (`withoutWidgetView`): for when the kernel that held the
   * widget is gone. The notebook's dirty flag is left as it was: the manifest
   * is what the file already says.
   */
  settle(model: INotebookModel | null): void {
    if (!model || model.isDisposed) {
      return;
    }
    const dirty = model.dirty;
    for (let c = 0; c < model.cells.length; c++) {
      const cell = model.cells.get(c);
      if (cell.type !== 'code') {
        continue;
      }
      const outputs = (cell as ICodeCellModel).outputs;
      for (let i = 0; i < outputs.length; i++) {
        const output = outputs.get(i);
        const data = withoutWidgetView(output.data);
        if (data !== null) {
          outputs.set(i, { ...output.toJSON(), data } as nbformat.IOutput);
        }
      }
    }
    model.dirty = dirty;
  }

  private _watchCell(model: INotebookModel, cell: ICellModel): void {
    if (cell.type !== 'code' || cell.isDisposed) {
      return;
    }
    const outputs = (cell as ICodeCellModel).outputs;
    if (!this._outputs.has(outputs)) {
      this._outputs.add(outputs);
      const keep = () => this._keep(model, outputs);
      outputs.changed.connect(keep);
      outputs.stateChanged.connect(keep);
    }
    this._keep(model, outputs);
  }

  private _keep(model: INotebookModel, outputs: IOutputAreaModel): void {
    if (model.isDisposed || outputs.isDisposed) {
      return;
    }
    const bundles = [];
    for (let i = 0; i < outputs.length; i++) {
      bundles.push(outputs.get(i).data);
    }
    for (const manifest of manifestsInOutputs(bundles)) {
      const value = withManifest(model.getMetadata(METADATA_KEY), manifest);
      if (value !== null) {
        model.setMetadata(METADATA_KEY, value);
        this._manifestKept.emit({ model, manifest });
      }
    }
  }

  private _manifestKept = new Signal<IManifestKeeper, IManifestKeeper.IKept>(
    this
  );
  private _models = new WeakSet<INotebookModel>();
  private _outputs = new WeakSet<IOutputAreaModel>();
}
