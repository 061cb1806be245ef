import type { INotebookModel } from '@jupyterlab/notebook';
import { Token } from '@lumino/coreutils';
import type { ISignal } from '@lumino/signaling';

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
}

/**
 * One step of a replay manifest (schema `scidex-replay/manifest/v1`).
 *
 * Everything is optional on purpose: a manifest comes from a notebook file and
 * is read as untrusted data.
 */
export interface IReplayStep {
  step_id?: string;
  step_type?: string;
  method?: string;
  target_artifact_id?: string;
  input_hash?: string | null;
  input_hash_replayed?: string | null;
  output_hash_live?: string | null;
  output_hash_replayed?: string | null;
  ok?: boolean | null;
  outcome?: string;
  reason?: string;
  reused_from_run?: string | null;
  duration_s?: number | null;
  forked_artifact_id?: string | null;
}

/**
 * A replay manifest, as written to `manifest.json` and displayed by the magic.
 */
export interface IReplayManifest {
  schema?: string;
  run_id: string;
  kind?: string;
  parent_run_id?: string | null;
  target_artifact_id?: string;
  from_step?: string | null;
  options?: { [key: string]: unknown };
  env?: { live?: string[]; replay?: string };
  started_at?: string;
  completed_at?: string | null;
  status?: string;
  ok?: boolean;
  summary?: { [outcome: string]: number };
  steps: IReplayStep[];
}

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
