import type { IChainStep, IRun } from '../api';
import { forkOptions, isRestartable, lineageTree, parseQuery } from '../lineage';

function run(run_id: string, parent_run_id: string | null, kind = 'replay', status = 'reproduced'): IRun {
  return {
    run_id, parent_run_id, kind, status, target_artifact_id: 'a_t', from_step: null,
    started_at: '2026-11-30T00:00:00+00:00', completed_at: null, summary: null, options: {}
  };
}

const step: IChainStep = {
  step_id: 's_fit', step_name: 'fit', step_type: 'python', method: 'fit()',
  parameters: { alpha: 0.5, env: { SEED: '1' } }, inputs: ['a_one', 'a_two'], outputs: ['a_out'], env_hash: null
};

describe('lineageTree', () => {
  it('nests runs under their parent run, oldest first', () => {
    const tree = lineageTree([
      run('r_1', null), run('r_2', 'r_1', 'restart', 'failed'), run('r_3', 'r_1', 'fork'), run('r_4', 'r_2', 'restart'), run('r_5', null)
    ]);
    const shape = (nodes: ReturnType<typeof lineageTree>): unknown =>
      nodes.map(n => [n.run.run_id, shape(n.children)]);
    expect(shape(tree)).toEqual([
      ['r_1', [['r_2', [['r_4', []]]], ['r_3', []]]],
      ['r_5', []]
    ]);
  });

  it('makes a run whose parent is not listed a root, and survives a cycle', () => {
    expect(lineageTree([run('r_2', 'r_gone')]).map(n => n.run.run_id)).toEqual(['r_2']);
    const cyclic = lineageTree([run('r_a', 'r_b'), run('r_b', 'r_a')]);
    expect(cyclic.length).toBeGreaterThan(0);
  });

  it('restarts failed and interrupted runs only', () => {
    expect(['failed', 'interrupted', 'reproduced', 'differs', 'running'].filter(s => isRestartable({ status: s }))).toEqual([
      'failed', 'interrupted'
    ]);
  });
});

describe('forkOptions', () => {
  it('sets the parameters that changed, by STEP.KEY', () => {
    const text = JSON.stringify({ alpha: 0.7, env: { SEED: '1' } });
    expect(forkOptions(step, text, ['a_one', 'a_two'])).toEqual({ fork: true, set: { 's_fit.alpha': 0.7 } });
  });

  it('replaces an input by STEP:N, keeping the inputs left as they were or empty', () => {
    const text = JSON.stringify(step.parameters);
    expect(forkOptions(step, text, ['a_one', ' a_new '])).toEqual({ fork: true, input: { 's_fit:1': 'a_new' } });
    expect(forkOptions(step, text, ['', 'a_new'])).toEqual({ fork: true, input: { 's_fit:1': 'a_new' } });
  });

  it('refuses bad JSON, a removed parameter, or no change, in one line', () => {
    const one = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect((e as Error).message).not.toContain('\n');
        return (e as Error).message;
      }
      throw new Error('did not throw');
    };
    expect(one(() => forkOptions(step, '{alpha:', []))).toMatch(/^parameters: not JSON/);
    expect(one(() => forkOptions(step, '[1]', []))).toMatch(/expected a JSON object/);
    expect(one(() => forkOptions(step, '{"alpha": 0.5}', []))).toMatch(/cannot remove env/);
    expect(one(() => forkOptions(step, JSON.stringify(step.parameters), step.inputs))).toMatch(/^nothing to fork/);
  });
});

describe('parseQuery', () => {
  it('reads kind:KIND as the kind filter and the rest as the text', () => {
    expect(parseQuery('  clean  kind:csv ')).toEqual({ q: 'clean', kind: 'csv' });
    expect(parseQuery('report.md')).toEqual({ q: 'report.md', kind: null });
    expect(parseQuery('')).toEqual({ q: '', kind: null });
  });
});
