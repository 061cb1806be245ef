/**
 * Pure helpers over replay manifests: recognise one, classify a step's
 * outcome, and merge a manifest into the notebook metadata value.
 *
 * A manifest is read from a notebook file or a kernel message: it is data
 * from outside, checked here before anything looks into it.
 */
import { JSONExt } from '@lumino/coreutils';
import type { PartialJSONObject } from '@lumino/coreutils';

import { OUTCOMES, Status, STATUSES } from './schema';
import { IReplayManifest, MIME_TYPE, SCHEMA_V2 } from './tokens';

/**
 * The outcomes a step can have, in the order a summary lists them: the
 * schema's `$defs.outcome.enum`. Anything else is shown as `other`.
 */
export { OUTCOMES };

export type Outcome = (typeof OUTCOMES)[number] | 'other';

const KNOWN_OUTCOMES: ReadonlySet<string> = new Set(OUTCOMES);
const KNOWN_STATUSES: ReadonlySet<string> = new Set(STATUSES);

/**
 * Whether a value looks like a replay manifest, v1 or v2: an object with a
 * non-empty string `run_id` and an array of object `steps`.
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
 * The status of a v2 manifest's run; `null` for a v1 manifest, whose `failed`
 * also covered outputs that differ, or for a status that is not the schema's.
 */
export function statusOf(manifest: IReplayManifest): Status | null {
  const status = manifest.status;
  if (manifest.schema !== SCHEMA_V2 || typeof status !== 'string') {
    return null;
  }
  return KNOWN_STATUSES.has(status) ? (status as Status) : null;
}

/**
 * The outcome code of a step (or of one of its outputs): its `outcome`, else
 * the code its `reason` starts with (`'failed: exit 1'` → `failed`); `other`
 * when it is none of {@link OUTCOMES}.
 */
export function outcomeOf(step: { outcome?: unknown; reason?: unknown }): Outcome {
  let code = typeof step.outcome === 'string' ? step.outcome : '';
  if (!code && typeof step.reason === 'string') {
    code = step.reason.split(':', 1)[0];
  }
  code = code.trim();
  return KNOWN_OUTCOMES.has(code) ? (code as Outcome) : 'other';
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

/** The mimetype of an ipywidgets view in an output bundle. */
export const WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json';

/**
 * The bundle `data` without its widget view when it also holds a manifest,
 * else null (nothing to drop). The replay widget leaves such a bundle while
 * its run can still be restarted; once the kernel that held the widget is
 * gone, its view could only say "model not found", so the static manifest
 * is shown instead.
 */
export function withoutWidgetView(
  data: { readonly [mime: string]: unknown } | undefined
): PartialJSONObject | null {
  if (!data || !(WIDGET_VIEW in data) || !isManifest(data[MIME_TYPE])) {
    return null;
  }
  const kept: PartialJSONObject = {};
  for (const [mime, value] of Object.entries(data)) {
    if (mime !== WIDGET_VIEW) {
      kept[mime] = value as PartialJSONObject[string];
    }
  }
  return kept;
}

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
