import type { INotebookModel } from '@jupyterlab/notebook';
import { Token } from '@lumino/coreutils';
import type { ISignal } from '@lumino/signaling';

import type { ManifestV1, ManifestV2 } from './schema';

/**
 * The mimetype `%rerun_artifact` displays a replay manifest as.
 */
export const MIME_TYPE = 'application/vnd.scidex.replay-manifest+json';

/**
 * The notebook metadata key the manifests are kept under:
 * `metadata.scidex_replay.manifests[run_id] = manifest`.
 */
export const METADATA_KEY = 'scidex_replay';

/**
 * The command ids of the extension.
 */
export namespace CommandIDs {
  /**
   * Ask for an artifact id and run `%rerun_artifact ID` in the current notebook.
   */
  export const rerunArtifact = 'scidex-replay:rerun-artifact';
  /**
   * Show the artifact `id` (its chain, runs and replay buttons) in the workbench sidebar.
   */
  export const openArtifact = 'scidex-replay:open-artifact';
}

/**
 * The schema id of the manifests scidex-replay writes now.
 */
export const SCHEMA_V2: ManifestV2['schema'] = 'scidex-replay/manifest/v2';

/**
 * A replay manifest, as written to `manifest.json` and displayed by the magic:
 * v2 as scidex-replay writes it now, or v1 as notebooks saved by the first wave
 * hold it. The types are generated from the manifest JSON Schema the Python
 * package ships (src/schema.ts).
 *
 * A manifest comes from a notebook file or a kernel message, and `isManifest`
 * checks only its shape: readers still check a value's type before using it.
 */
export type IReplayManifest = ManifestV2 | IReplayManifestV1;

/**
 * A manifest of the first wave (`scidex-replay/manifest/v1`).
 */
export type IReplayManifestV1 = ManifestV1 & {
  schema: 'scidex-replay/manifest/v1';
};

/**
 * One step of a replay manifest.
 */
export type IReplayStep = IReplayManifest['steps'][number];

/**
 * Keeps every replay manifest displayed in a notebook in that notebook's
 * metadata, so that the saved file carries it even after its outputs are cleared.
 */
export interface IManifestKeeper {
  /**
   * Emitted after a manifest was written into a notebook's metadata.
   */
  readonly manifestKept: ISignal<IManifestKeeper, IManifestKeeper.IKept>;

  /**
   * The manifests kept in a notebook's metadata, keyed by run id.
   */
  manifests(model: INotebookModel): { [runId: string]: IReplayManifest };
}

export namespace IManifestKeeper {
  /**
   * The argument of `manifestKept`.
   */
  export interface IKept {
    readonly model: INotebookModel;
    readonly manifest: IReplayManifest;
  }
}

/**
 * The manifest keeper token; the rerun command requires it.
 */
export const IManifestKeeper = new Token<IManifestKeeper>(
  'scidex-replay:IManifestKeeper',
  'Keeps displayed replay manifests in the notebook metadata under scidex_replay.manifests.'
);
