import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { ManifestV2, Output, Status, STATUSES, StepV2 } from '../schema';
import { IReplayManifestV1, MIME_TYPE } from '../tokens';

const H = (c: string) => c.repeat(64);

type StepV1 = IReplayManifestV1['steps'][number];

/**
 * A v2 step with one output, which its `outputs` entry describes again.
 */
export function step(overrides: Partial<StepV2> = {}): StepV2 {
  const s = {
    step_id: 's_e2sdvh4q',
    step_name: 'fit',
    step_type: 'shell',
    method: "python3 '{in0}' '{in1}' '{out}'",
    target_artifact_id: 'a_8r4ntf05',
    input_hash: H('d'),
    input_hash_replayed: H('d'),
    output_hash_live: H('6'),
    output_hash_replayed: H('6'),
    ok: true,
    outcome: 'reproduced' as const,
    reason: 'reproduced',
    reused_from_run: null,
    duration_s: 0.372712,
    comparison: null,
    ...overrides
  };
  const output = {
    artifact_id: s.target_artifact_id,
    name: 'rates.csv',
    hash_live: s.output_hash_live,
    hash_replayed: s.output_hash_replayed,
    ok: s.ok,
    outcome: s.outcome,
    comparison: s.comparison
  };
  return { outputs: [output], ...s };
}

/**
 * A v2 restart with one step of each kind, shaped like the engine's
 * manifest.json: a step failed, so the run failed.
 */
export function manifest(overrides: Partial<ManifestV2> = {}): ManifestV2 {
  return {
    schema: 'scidex-replay/manifest/v2',
    run_id: 'r_4h7x8vps',
    kind: 'restart',
    parent_run_id: 'r_parent01',
    target_artifact_id: 'a_18ajb11n',
    from_step: null,
    options: { strict: false, diff: false, executor: 'kernel' },
    env: { live: [H('4')], replay: H('4') },
    started_at: '2026-11-24T15:02:21.546832+00:00',
    completed_at: '2026-11-24T15:02:22.903256+00:00',
    status: 'failed',
    ok: false,
    summary: { reproduced: 1, reused: 1, 'output-differs': 1, failed: 1 },
    steps: [
      step({ step_id: 's_one', outcome: 'reused', reason: 'reused: run r_parent01', reused_from_run: 'r_parent01' }),
      step({ step_id: 's_two' }),
      step({
        step_id: 's_three',
        ok: false,
        outcome: 'output-differs',
        reason: 'output-differs: replayed 999999999999, recorded 666666666666',
        output_hash_replayed: H('9'),
        comparison: {
          comparator: 'csv',
          equivalent: false,
          summary: '1 value differs beyond tolerance',
          differences: [{ where: 'row 2, column rate', kind: 'numeric', detail: '0.41 != 0.43' }],
          metrics: { max_abs: 0.02 }
        }
      }),
      step({
        step_id: 's_four',
        ok: false,
        outcome: 'failed',
        reason: 'failed: exit 1',
        output_hash_replayed: null
      })
    ],
    ...overrides
  };
}

/**
 * A v2 replay of a manifest of each run status: one step reproduced, and for
 * `differs` a second one whose output differs.
 */
export function manifestWithStatus(status: Status): ManifestV2 {
  const m = manifest({
    status,
    ok: status === 'reproduced',
    kind: 'replay',
    parent_run_id: null,
    steps: [step()],
    summary: { reproduced: 1 }
  });
  if (status === 'differs') {
    m.steps.push(
      step({ step_id: 's_b', ok: false, outcome: 'output-differs', reason: 'output-differs', output_hash_replayed: H('9') })
    );
    m.summary['output-differs'] = 1;
  }
  return m;
}

/**
 * A v2 step that wrote three outputs, of which the second differs; the step's
 * own hashes describe its first output, which reproduced.
 */
export function stepWithOutputs(overrides: Partial<StepV2> = {}): StepV2 {
  const output = (name: string, c: string, replayed: string): Output => ({
    artifact_id: `a_fig${c.repeat(5)}`,
    name,
    hash_live: H(c),
    hash_replayed: H(replayed),
    ok: c === replayed,
    outcome: c === replayed ? 'reproduced' : 'output-differs',
    comparison: null
  });
  return step({
    step_id: 's_plot0001',
    step_name: 'plot',
    ok: false,
    outcome: 'output-differs',
    reason: 'output-differs: 1 of 3 outputs differ (figures/fig2.png)',
    outputs: [
      output('figures/fig1.png', '6', '6'),
      output('figures/fig2.png', '7', '9'),
      output('fit.txt', '8', '8')
    ],
    ...overrides
  });
}

/**
 * A v2 replay that did not reproduce: a step without a name (recorded before
 * steps had names) reproduced, then {@link stepWithOutputs}.
 */
export function manifestWithOutputs(): ManifestV2 {
  return manifest({
    status: 'differs',
    kind: 'replay',
    parent_run_id: null,
    summary: { reproduced: 1, 'output-differs': 1 },
    steps: [step({ step_id: 's_prep0001', step_name: null }), stepWithOutputs()]
  });
}

/**
 * A v2 replay that did not reproduce: a JSON output whose bytes differ only
 * in a random id and a time (equivalent), then a CSV output whose content
 * differs (a number beyond the tolerance, a changed label).
 */
export function manifestWithComparisons(): ManifestV2 {
  return manifest({
    status: 'differs',
    kind: 'replay',
    parent_run_id: null,
    summary: { equivalent: 1, 'output-differs': 1 },
    steps: [
      step({
        step_id: 's_json0001',
        step_name: 'summarise',
        ok: false,
        outcome: 'equivalent',
        reason: 'equivalent: equivalent: only $.id (a random id) and $.created differ',
        output_hash_replayed: H('a'),
        comparison: {
          comparator: 'json',
          equivalent: true,
          summary: 'equivalent: only $.id (a random id) and $.created differ',
          differences: [
            { where: '$.id', kind: 'volatile-id', detail: "'1f0c…' → '9b2e…'" },
            { where: '$.created', kind: 'metadata', detail: '12:00:01 → 12:00:07' }
          ],
          metrics: {}
        }
      }),
      step({
        step_id: 's_csv00001',
        step_name: 'fit',
        ok: false,
        outcome: 'output-differs',
        reason: "output-differs: content differs: column 'mean' max abs diff 0.25 (row 17), 2 of 120 rows",
        output_hash_replayed: H('b'),
        comparison: {
          comparator: 'csv',
          equivalent: false,
          summary: "content differs: column 'mean' max abs diff 0.25 (row 17), 2 of 120 rows",
          differences: [
            { where: "column 'mean' row 17", kind: 'content', detail: '3.5 → 3.75' },
            { where: "column 'sd' row 4", kind: 'numeric', detail: '0.1 → 0.10000000000000002 (within rtol 1e-09)' },
            { where: "column 'label' row 9", kind: 'content', detail: "'<b>a</b>' → 'b'" }
          ],
          metrics: { max_abs_diff: 0.25, diff_blob: H('c') }
        }
      })
    ]
  });
}

/**
 * A run whose differing step was explained (`--explain`): the clock changes
 * its output, the time zone only its metadata, the locale was not tested;
 * the summary, a detail and a reason carry markup that must stay text.
 */
export function manifestWithExplanation(): ManifestV2 {
  return manifest({
    status: 'differs',
    kind: 'replay',
    parent_run_id: null,
    summary: { 'output-differs': 1 },
    steps: [
      step({
        step_id: 's_clock001',
        step_name: 'stamp',
        ok: false,
        outcome: 'output-differs',
        reason: 'output-differs: bytes differ at offset 0',
        output_hash_replayed: H('b'),
        explanation: {
          factors: {
            repeat: 'no-effect',
            clock: 'changes-output',
            tz: 'changes-output',
            locale: 'not-tested',
            'rng-seed': 'no-effect'
          },
          summary: 'the output depends on the clock <img src=x onerror=alert(1)>',
          runs: 7,
          seconds: 2.345,
          not_tested: { locale: 'no "de_DE" locale <here>' },
          details: {
            clock: 'content: line 1: 1700000000 → 1800000000 <b>',
            tz: 'metadata: only the mtime differs'
          }
        }
      })
    ]
  });
}

/**
 * A step of a first-wave manifest.
 */
export function stepV1(overrides: Partial<StepV1> = {}): StepV1 {
  return {
    step_id: 's_e2sdvh4q',
    step_type: 'shell',
    method: "python3 '{in0}' '{in1}' '{out}'",
    target_artifact_id: 'a_8r4ntf05',
    input_hash: H('d'),
    input_hash_replayed: H('d'),
    output_hash_live: H('6'),
    output_hash_replayed: H('6'),
    ok: true,
    outcome: 'reproduced',
    reason: 'reproduced',
    reused_from_run: null,
    duration_s: 0.372712,
    ...overrides
  };
}

/**
 * A first-wave manifest, as notebooks saved then hold it: its `failed` status
 * also covered outputs that differ.
 */
export function manifestV1(overrides: Partial<IReplayManifestV1> = {}): IReplayManifestV1 {
  return {
    schema: 'scidex-replay/manifest/v1',
    run_id: 'r_4h7x8vps',
    kind: 'restart',
    parent_run_id: 'r_parent01',
    target_artifact_id: 'a_18ajb11n',
    from_step: null,
    options: { strict: false, diff: false, executor: 'kernel' },
    env: { live: [H('4')], replay: H('4') },
    started_at: '2026-11-24T15:02:21.546832+00:00',
    completed_at: '2026-11-24T15:02:22.903256+00:00',
    status: 'failed',
    ok: false,
    summary: { reproduced: 1, reused: 1, 'output-differs': 1, failed: 1 },
    steps: [
      stepV1({ step_id: 's_one', outcome: 'reused', reason: 'reused: run r_parent01', reused_from_run: 'r_parent01' }),
      stepV1({ step_id: 's_two' }),
      stepV1({
        step_id: 's_three',
        ok: false,
        outcome: 'output-differs',
        reason: 'output-differs: replayed 999999999999, recorded 666666666666',
        output_hash_replayed: H('9')
      }),
      stepV1({
        step_id: 's_four',
        ok: false,
        outcome: 'failed',
        reason: 'failed: exit 1',
        output_hash_replayed: null
      })
    ],
    ...overrides
  };
}

/**
 * Every manifest the specs start from, by name; each must be valid against
 * the schema (schema.spec.ts).
 */
export function allFixtures(): { [name: string]: unknown } {
  const all: { [name: string]: unknown } = {
    v2: manifest(),
    v1: manifestV1(),
    'v2 several outputs': manifestWithOutputs(),
    'v2 with comparisons': manifestWithComparisons(),
    'v2 with an explanation': manifestWithExplanation()
  };
  for (const status of STATUSES) {
    all[`v2 ${status}`] = manifestWithStatus(status);
  }
  return all;
}

export function mimeModel(data: unknown, mimeType: string = MIME_TYPE): IRenderMime.IMimeModel {
  return {
    trusted: true,
    data: { [mimeType]: data as any },
    metadata: {},
    setData: () => undefined
  };
}
