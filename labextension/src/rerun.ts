/**
 * The "Rerun artifact" command: ask for an artifact id, then run
 * `%rerun_artifact ID --no-widget` in a new cell of the current notebook, so
 * that the manifest renders there and the keeper copies it into the metadata.
 * The magics are loaded in the kernel first, silently, so the notebook needs
 * no `%load_ext scidex_replay` cell.
 */
import type { ISessionContextDialogs } from '@jupyterlab/apputils';
import { InputDialog, showErrorMessage } from '@jupyterlab/apputils';
import { NotebookActions } from '@jupyterlab/notebook';
import type { NotebookPanel } from '@jupyterlab/notebook';

import { ARTIFACT_ID, LOAD_EXTENSION, magicLine } from './artifact';
import { IManifestKeeper } from './tokens';

/**
 * Ask for an artifact id (unless `artifactId` is given), then run its replay
 * in a new code cell below the active cell of `panel`.
 *
 * Resolves with the run ids of the manifests the replay added to the
 * notebook's metadata: empty when the dialog was cancelled or the replay
 * displayed no manifest (a bad id shows the magic's one-line error).
 */
export async function rerunArtifact(
  panel: NotebookPanel,
  keeper: IManifestKeeper,
  artifactId?: string,
  dialogs?: ISessionContextDialogs | null
): Promise<string[]> {
  let id = artifactId;
  if (id === undefined) {
    const result = await InputDialog.getText({
      title: 'Rerun artifact',
      label: 'Replay the chain that produced the artifact with id',
      placeholder: 'a_…',
      okLabel: 'Rerun'
    });
    if (!result.button.accept || !result.value) {
      return [];
    }
    id = result.value;
  }
  id = id.trim();
  if (!ARTIFACT_ID.test(id)) {
    await showErrorMessage(
      'Rerun artifact',
      `Not an artifact id: ${JSON.stringify(id)} (expected one word such as a_18ajb11n).`
    );
    return [];
  }
  await panel.context.ready;
  const notebook = panel.content;
  const model = notebook.model;
  if (!model) {
    return [];
  }
  const before = new Set(Object.keys(keeper.manifests(model)));
  NotebookActions.insertBelow(notebook);
  if (notebook.activeCell?.model.type !== 'code') {
    NotebookActions.changeCellType(notebook, 'code');
  }
  const cell = notebook.activeCell;
  if (!cell) {
    return [];
  }
  cell.model.sharedModel.setSource(magicLine(id));
  await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session?.kernel;
  if (kernel) {
    await kernel.requestExecute({
      code: LOAD_EXTENSION,
      silent: true,
      store_history: false
    }).done;
  }
  await NotebookActions.run(notebook, panel.sessionContext, dialogs ?? undefined);
  return Object.keys(keeper.manifests(model)).filter(runId => !before.has(runId));
}
