/**
 * Generated from scidex_replay/replay/schemas/manifest.schema.json by
 * `jlpm build:schema`. Do not edit: change the schema and regenerate.
 */

/**
 * A step's outcome (scidex_replay.outcomes.Outcome).
 *
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "outcome".
 */
export type Outcome =
  | 'reproduced'
  | 'equivalent'
  | 'output-differs'
  | 'input-differs'
  | 'failed'
  | 'unreplayable'
  | 'skipped'
  | 'frozen'
  | 'reused'
  | 'forked';
/**
 * A run's status (scidex_replay.outcomes.Status).
 *
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "status".
 */
export type Status = 'running' | 'reproduced' | 'differs' | 'failed' | 'interrupted' | 'aborted';
/**
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "sha256".
 */
export type Sha256 = string;
/**
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "nullableString".
 */
export type NullableString = string | null;
/**
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "factor".
 */
export type Factor = 'repeat' | 'clock' | 'hash-seed' | 'threads' | 'tz' | 'locale' | 'rng-seed' | 'workdir' | 'env';

/**
 * What one replay run found, step by step. Written by scidex-replay as scidex-replay/manifest/v2; manifests of v1 (notebooks saved by the first wave) are still read. The Python package (jsonschema) and the JupyterLab extension's tests (ajv, generated types) read this one file.
 */
export interface ScidexReplayManifestJson {
  schema: 'scidex-replay/manifest/v2' | 'scidex-replay/manifest/v1';
  [k: string]: unknown;
}
/**
 * How a replayed output compares with the recorded one, in its format's own terms.
 *
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "comparison".
 */
export interface Comparison {
  comparator: string;
  equivalent: boolean;
  summary: string;
  differences: {
    where: string;
    kind: 'metadata' | 'volatile-id' | 'order' | 'numeric' | 'content';
    detail: string;
  }[];
  metrics: {
    [k: string]: unknown;
  };
}
/**
 * Which perturbation factors change the step's output (--explain): the step re-run alone in scratch space, runs times in seconds in all; not_tested gives the reason a factor could not be varied, details how the output changed under a factor that changes it (a detail starting 'metadata:' or 'numeric:' means the comparator found only metadata / volatile ids, or numbers within the tolerance).
 *
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "explanation".
 */
export interface Explanation {
  factors: {
    [k: string]: 'changes-output' | 'no-effect' | 'not-tested';
  };
  summary: string;
  runs?: number;
  seconds?: number;
  not_tested?: {
    [k: string]: string;
  };
  details?: {
    [k: string]: string;
  };
}
/**
 * One output of a step.
 *
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "output".
 */
export interface Output {
  artifact_id: string;
  name: NullableString;
  hash_live: Sha256;
  hash_replayed: Sha256 | null;
  ok: boolean | null;
  outcome: Outcome;
  comparison: Comparison | null;
}
/**
 * With --diff: where a differing output first differs, and for text a unified diff.
 *
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "diff".
 */
export interface Diff {
  first_difference_offset: number | null;
  size_live: number;
  size_replayed: number;
  replayed_blob?: string;
  unified?: string;
  [k: string]: unknown;
}
/**
 * A source file the step reads that changed since it was recorded: its path, the recorded and the current sha256; live when this replay used the working copy (--live) instead of the recorded bytes.
 *
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "sourceDrift".
 */
export interface SourceDrift {
  path: string;
  recorded: Sha256;
  current: Sha256;
  live?: boolean;
}
/**
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "stepV2".
 */
export interface StepV2 {
  step_id: string;
  step_name: NullableString;
  step_type: string;
  method: string;
  target_artifact_id: string;
  /**
   * the step's inputs in order (the edges into the step in the graph); absent in manifests written before them
   */
  inputs?: {
    artifact_id: string;
    name: NullableString;
  }[];
  input_hash: string;
  input_hash_replayed: NullableString;
  output_hash_live: string;
  output_hash_replayed: NullableString;
  /**
   * null for a step that was not checked (frozen)
   */
  ok: boolean | null;
  outcome: Outcome;
  /**
   * the outcome code, then ': ' and the words when there are any
   */
  reason: string;
  reused_from_run: NullableString;
  duration_s: number;
  /**
   * @minItems 1
   */
  outputs: [Output, ...Output[]];
  comparison: Comparison | null;
  explanation?: Explanation;
  diff?: Diff;
  forked_artifact_id?: string;
  source_drift?: SourceDrift[];
}
/**
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "manifestV2".
 */
export interface ManifestV2 {
  schema: 'scidex-replay/manifest/v2';
  run_id: string;
  kind: 'replay' | 'restart' | 'fork';
  parent_run_id: NullableString;
  target_artifact_id: string;
  from_step: NullableString;
  options: {
    [k: string]: unknown;
  };
  env: {
    live: string[];
    replay: string;
  };
  started_at: string;
  completed_at: NullableString;
  status: Status;
  ok: boolean;
  summary: {
    [k: string]: number;
  };
  steps: StepV2[];
}
/**
 * The first wave's manifest: the fields its readers relied on, anything else allowed.
 *
 * This interface was referenced by `ScidexReplayManifestJson`'s JSON-Schema
 * via the `definition` "manifestV1".
 */
export interface ManifestV1 {
  run_id: string;
  kind: string;
  target_artifact_id: string;
  ok: boolean;
  summary: {
    [k: string]: unknown;
  };
  steps: {
    step_id: string;
    step_type: string;
    input_hash: string;
    output_hash_live: string;
    output_hash_replayed: NullableString;
    ok: boolean | null;
    reason: string;
    reused_from_run: NullableString;
    duration_s: number;
    [k: string]: unknown;
  }[];
  [k: string]: unknown;
}

/**
 * Every {@link Outcome}, in the schema's order.
 */
export const OUTCOMES: readonly Outcome[] = [
  "reproduced",
  "equivalent",
  "output-differs",
  "input-differs",
  "failed",
  "unreplayable",
  "skipped",
  "frozen",
  "reused",
  "forked"
];

/**
 * Every {@link Status}, in the schema's order.
 */
export const STATUSES: readonly Status[] = [
  "running",
  "reproduced",
  "differs",
  "failed",
  "interrupted",
  "aborted"
];

/**
 * Every difference kind, in the schema's order.
 */
export const KINDS: readonly Comparison['differences'][number]['kind'][] = [
  "metadata",
  "volatile-id",
  "order",
  "numeric",
  "content"
];
