/**
 * Pure helpers over replay manifests: recognise one, classify a step's
 * outcome, and merge a manifest into the notebook metadata value.
 *
 * A manifest is read from a notebook file or a kernel message: it is data
 * from outside, checked here before anything looks into it.
 */
import { JSONExt } from '@lumino/coreutils';
import type { PartialJSONObject } from '@lumino/coreutils';

import { IReplayManifest, IReplayStep, MIME_TYPE } from './tokens';

/**
 * The outcome codes a step's `reason` starts with, in the order a summary
 * lists them. Anything else is shown as `other`.
 */
export const OUTCOMES = [
  'reproduced',
  'output-differs',
  'input-differs',
  'failed',
  'unreplayable',
  'skipped',
  'frozen',
  'reused',
  'forked'
] as const;

export type Outcome = (typeof OUTCOMES)[number] | 'other';

const KNOWN: ReadonlySet<string> = new Set(OUTCOMES);

/**
 * Whether a value looks like a replay manifest: an object with a non-empty
 * string `run_id` and an array of object `steps`.
 */
export function isManifest(value: unknown): value is IReplayManifest {
  if (!isObject(value)) {
    return false;
  }
  const runId = value['run_id'];
  const steps = value['steps'];
  return (
    typeof runId === 'string' &&
    runId.length > 0 &&
    runId.length <= 200 &&
    Array.isArray(steps) &&
    steps.every(isObject)
  );
}

/**
 * The outcome code of a step: its `outcome`, else the code its `reason`
 * starts with (`'failed: exit 1'` → `failed`); `other` when it is none of
 * {@link OUTCOMES}.
 */
export function outcomeOf(step: IReplayStep): Outcome {
  let code = typeof step.outcome === 'string' ? step.outcome : '';
  if (!code && typeof step.reason === 'string') {
    code = step.reason.split(':', 1)[0];
  }
  code = code.trim();
  return KNOWN.has(code) ? (code as Outcome) : 'other';
}

/**
 * The manifests found in a list of output bundles (`output.data`).
 */
export function manifestsInOutputs(
  bundles: Iterable<{ readonly [mime: string]: unknown } | undefined>
): IReplayManifest[] {
  const found: IReplayManifest[] = [];
  for (const data of bundles) {
    const value = data ? data[MIME_TYPE] : undefined;
    if (isManifest(value)) {
      found.push(value);
    }
  }
  return found;
}

/**
 * The manifests kept in a notebook's `scidex_replay` metadata value, keyed by
 * run id; entries that are not manifests are left out.
 */
export function keptManifests(metadata: unknown): {
  [runId: string]: IReplayManifest;
} {
  const kept: { [runId: string]: IReplayManifest } = {};
  const manifests = isObject(metadata) ? metadata['manifests'] : undefined;
  if (isObject(manifests)) {
    for (const runId of Object.keys(manifests)) {
      const value = manifests[runId];
      if (isManifest(value)) {
        kept[runId] = value;
      }
    }
  }
  return kept;
}

/**
 * The `scidex_replay` metadata value with `manifest` kept under
 * `manifests[manifest.run_id]`, or `null` when it is already there unchanged.
 * Other keys of the value, and other manifests, are kept as they are.
 */
export function withManifest(
  metadata: unknown,
  manifest: IReplayManifest
): PartialJSONObject | null {
  const base: PartialJSONObject = isObject(metadata)
    ? { ...(metadata as PartialJSONObject) }
    : {};
  const manifests: PartialJSONObject = isObject(base['manifests'])
    ? { ...(base['manifests'] as PartialJSONObject) }
    : {};
  const value = JSONExt.deepCopy(manifest as unknown as PartialJSONObject);
  const current = manifests[manifest.run_id];
  if (current !== undefined && JSONExt.deepEqual(current, value)) {
    return null;
  }
  Object.defineProperty(manifests, manifest.run_id, {
    value,
    enumerable: true,
    configurable: true,
    writable: true
  });
  base['manifests'] = manifests;
  return base;
}

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
