/**
 * The plugins of the extension: the manifest keeper, and the "Rerun artifact"
 * command with its palette entry and notebook toolbar button. The renderer is
 * the mime extension in `mime.ts`.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, ISessionContextDialogs } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { CommandToolbarButton, refreshIcon } from '@jupyterlab/ui-components';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { ManifestKeeper } from './keeper';
import { rerunArtifact } from './rerun';
import { CommandIDs, IManifestKeeper } from './tokens';

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
