import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { IReplayManifest, IReplayStep, MIME_TYPE } from '../tokens';

const H = (c: string) => c.repeat(64);

export function step(overrides: Partial<IReplayStep> = {}): IReplayStep {
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
 * A restart with one step of each kind, shaped like the engine's manifest.json.
 */
export function manifest(overrides: Partial<IReplayManifest> = {}): IReplayManifest {
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
      step({ step_id: 's_one', outcome: 'reused', reason: 'reused: run r_parent01', reused_from_run: 'r_parent01' }),
      step({ step_id: 's_two' }),
      step({
        step_id: 's_three',
        ok: false,
        outcome: 'output-differs',
        reason: 'output-differs: replayed 999999999999, recorded 666666666666',
        output_hash_replayed: H('9')
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

export function mimeModel(data: unknown): IRenderMime.IMimeModel {
  return {
    trusted: true,
    data: { [MIME_TYPE]: data as any },
    metadata: {},
    setData: () => undefined
  };
}
