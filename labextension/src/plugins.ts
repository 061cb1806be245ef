/**
 * The plugins of the extension: the manifest keeper, the "Rerun artifact"
 * command with its palette entry and notebook toolbar button, and the replay
 * workbench sidebar. The renderer is
 * the mime extension in `mime.ts`.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, ISessionContextDialogs, MainAreaWidget } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { CommandToolbarButton, refreshIcon } from '@jupyterlab/ui-components';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { ManifestKeeper } from './keeper';
import { rerunArtifact } from './rerun';
import { ReplayApi } from './api';
import { ARTIFACT_ID } from './artifact';
import { drawGraph } from './graph';
import type { IGraph } from './graph';
import { showDetails } from './graph-renderer';
import { renderManifest } from './renderer';
import { WorkbenchSidebar, workbenchIcon } from './sidebar';
import { CommandIDs, IManifestKeeper, IReplayManifest } from './tokens';

/**
 * Keeps every displayed replay manifest in its notebook's metadata.
 */
export const keeperPlugin: JupyterFrontEndPlugin<IManifestKeeper> = {
  id: 'scidex-replay:manifest-keeper',
  description:
    'Copies each displayed replay manifest into the notebook metadata under scidex_replay.manifests.',
  autoStart: true,
  requires: [INotebookTracker],
  provides: IManifestKeeper,
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker) =>
    new ManifestKeeper(tracker)
};

/**
 * The "Rerun artifact" command: palette entry and notebook toolbar button.
 */
export const rerunPlugin: JupyterFrontEndPlugin<void> = {
  id: 'scidex-replay:rerun-command',
  description:
    'Adds "Rerun artifact": asks for an artifact id and runs %rerun_artifact in the notebook.',
  autoStart: true,
  requires: [INotebookTracker, IManifestKeeper],
  optional: [ICommandPalette, ISessionContextDialogs],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    keeper: IManifestKeeper,
    palette: ICommandPalette | null,
    dialogs: ISessionContextDialogs | null
  ) => {
    app.commands.addCommand(CommandIDs.rerunArtifact, {
      label: 'Rerun artifact',
      caption:
        'Replay the chain that produced an artifact (%rerun_artifact) in this notebook',
      icon: args => (args['isPalette'] ? undefined : refreshIcon),
      isEnabled: () => tracker.currentWidget !== null,
      execute: async (args: ReadonlyPartialJSONObject) => {
        const panel = tracker.currentWidget;
        if (!panel) {
          return [];
        }
        const id = typeof args['id'] === 'string' ? args['id'] : undefined;
        return rerunArtifact(panel, keeper, id, dialogs);
      }
    });
    palette?.addItem({
      command: CommandIDs.rerunArtifact,
      category: 'Notebook Operations',
      args: { isPalette: true }
    });
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (panel: NotebookPanel) => {
        const button = new CommandToolbarButton({
          commands: app.commands,
          id: CommandIDs.rerunArtifact,
          label: 'Rerun artifact'
        });
        button.addClass('scidex-RerunButton');
        panel.toolbar.insertItem(10, 'scidex-rerun-artifact', button);
        return button;
      }
    });
  }
};

/**
 * The replay workbench: a left-area panel to search artifacts, see a chain as
 * a graph, replay/restart/fork it on the server and follow the job, and list
 * the manifests kept in the active notebook.
 */
export const workbenchPlugin: JupyterFrontEndPlugin<void> = {
  id: 'scidex-replay:workbench',
  description:
    'Adds the replay workbench sidebar: artifact search, chain graph, runs, Replay/Restart/Fork/Cancel jobs on the server.',
  autoStart: true,
  requires: [INotebookTracker, IManifestKeeper],
  optional: [ILabShell, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    keeper: IManifestKeeper,
    labShell: ILabShell | null,
    restorer: ILayoutRestorer | null
  ) => {
    const manifests = new Map<string, MainAreaWidget>();
    const openManifest = (manifest: IReplayManifest) => {
      const open = manifests.get(manifest.run_id);
      if (open && !open.isDisposed) {
        app.shell.activateById(open.id);
        return;
      }
      const content = new Widget();
      content.addClass('scidex-Manifest');
      content.addClass('scidex-ManifestPanel');
      content.node.appendChild(renderManifest(manifest));
      const widget = new MainAreaWidget({ content });
      widget.id = `scidex-manifest-${manifest.run_id}`;
      widget.title.label = `Manifest ${manifest.run_id}`;
      manifests.set(manifest.run_id, widget);
      widget.title.icon = workbenchIcon;
      widget.title.closable = true;
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
    };
    let graphs = 0;
    const openGraph = (graph: IGraph, title: string) => {
      const content = new Widget();
      content.addClass('scidex-GraphView');
      content.addClass('scidex-GraphPanel');
      const details = document.createElement('div');
      details.className = 'scidex-Graph-details';
      content.node.appendChild(drawGraph(graph, { onSelect: node => showDetails(details, node) }));
      content.node.appendChild(details);
      const widget = new MainAreaWidget({ content });
      widget.id = `scidex-graph-${++graphs}`;
      widget.title.label = `Chain of ${title}`;
      widget.title.icon = workbenchIcon;
      widget.title.closable = true;
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
    };
    const insertCell = (artifactId: string): string | null => {
      const panel = tracker.currentWidget;
      if (!panel) {
        return 'open a notebook to insert the cell into';
      }
      if (!ARTIFACT_ID.test(artifactId)) {
        return `not an artifact id: ${JSON.stringify(artifactId)}`;
      }
      const notebook = panel.content;
      NotebookActions.insertBelow(notebook);
      if (notebook.activeCell?.model.type !== 'code') {
        NotebookActions.changeCellType(notebook, 'code');
      }
      notebook.activeCell?.model.sharedModel.setSource(`%rerun_artifact ${artifactId}`);
      app.shell.activateById(panel.id);
      return null;
    };
    const sidebar = new WorkbenchSidebar({
      api: new ReplayApi(app.serviceManager.serverSettings), tracker, keeper, openManifest, openGraph, insertCell
    });
    (labShell ?? app.shell).add(sidebar, 'left', { rank: 250 });
    restorer?.add(sidebar, sidebar.id); // open again after a reload if it was open
    app.commands.addCommand(CommandIDs.openArtifact, {
      label: 'Open artifact in the replay workbench',
      caption: 'Show an artifact\'s chain, runs and replay buttons in the workbench sidebar',
      execute: async (args: ReadonlyPartialJSONObject) => {
        const id = typeof args['id'] === 'string' ? args['id'] : '';
        app.shell.activateById(sidebar.id);
        await sidebar.openArtifact(id);
      }
    });
  }
};
