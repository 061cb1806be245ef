import { downloadName, ManifestWidget, rendererFactory } from '../renderer';
import { MIME_TYPE } from '../tokens';
import {
  manifest,
  manifestV1,
  manifestWithOutputs,
  manifestWithStatus,
  mimeModel,
  step,
  stepV1,
  stepWithOutputs
} from './fixtures';

async function render(data: unknown): Promise<HTMLElement> {
  const widget = rendererFactory.createRenderer({
    mimeType: MIME_TYPE,
    sanitizer: { sanitize: (s: string) => s },
    resolver: null,
    linkHandler: null,
    latexTypesetter: null
  } as any) as ManifestWidget;
  await widget.renderModel(mimeModel(data));
  return widget.node;
}

function chips(node: HTMLElement): string[] {
  return Array.from(
    node.querySelectorAll('.scidex-Manifest-steps .scidex-Chip')
  ).map(chip => chip.textContent ?? '');
}

function headings(node: HTMLElement): string[] {
  return Array.from(node.querySelectorAll('.scidex-Manifest-steps th')).map(
    th => th.textContent ?? ''
  );
}

/**
 * Each output listed in a row: its name and the words of its chip.
 */
function outputs(row: Element): [string, string][] {
  return Array.from(row.querySelectorAll('.scidex-Manifest-output')).map(line => [
    line.querySelector('.scidex-Manifest-outputName')?.textContent ?? '',
    line.querySelector('.scidex-Chip')?.textContent ?? ''
  ]);
}

describe('rendererFactory', () => {
  it('should render the manifest mimetype only, safely', () => {
    expect(rendererFactory.mimeTypes).toEqual([MIME_TYPE]);
    expect(rendererFactory.safe).toBe(true);
  });
});

describe('ManifestWidget', () => {
  it('should render one row per step with its status chip', async () => {
    const node = await render(manifest());
    const rows = node.querySelectorAll('.scidex-Manifest-steps tbody tr');
    expect(rows).toHaveLength(4);
    expect(chips(node)).toEqual(['reused', 'reproduced', 'output-differs', 'failed']);
    expect(rows[2].querySelector('.scidex-Chip')?.className).toContain(
      'scidex-Chip-output-differs'
    );
    expect(rows[0].querySelector('.scidex-Manifest-stepId')?.textContent).toBe('s_one');
  });

  it('should show the run lineage: kind and parent run', async () => {
    const node = await render(manifest());
    const kind = node.querySelector('.scidex-Manifest-lineage-kind dd');
    const parent = node.querySelector('.scidex-Manifest-lineage-parent dd');
    expect(kind?.textContent).toBe('restart');
    expect(parent?.textContent).toBe('r_parent01');
    expect(node.querySelector('.scidex-Manifest-lineage-reused dd')?.textContent).toBe(
      'r_parent01'
    );
    expect(node.querySelector('.scidex-Manifest-reusedFrom code')?.textContent).toBe(
      'r_parent01'
    );
  });

  it('should say there is no parent run for a first replay', async () => {
    const node = await render(manifest({ kind: 'replay', parent_run_id: null }));
    expect(node.querySelector('.scidex-Manifest-lineage-kind dd')?.textContent).toBe(
      'replay'
    );
    expect(node.querySelector('.scidex-Manifest-lineage-parent dd')?.textContent).toBe(
      'none'
    );
  });

  it('should render a v1 manifest like a v2 one', async () => {
    const node = await render(manifestV1());
    expect(chips(node)).toEqual(['reused', 'reproduced', 'output-differs', 'failed']);
    expect(node.querySelector('.scidex-Manifest-lineage-parent dd')?.textContent).toBe(
      'r_parent01'
    );
    expect(node.querySelector('.scidex-Manifest-lineage-env dd')?.textContent).toBe(
      'as recorded'
    );
  });

  it('should give the verdict of a v1 run by its ok', async () => {
    const failed = await render(manifestV1());
    expect(failed.querySelector('.scidex-Manifest-verdict')?.textContent).toBe(
      'not reproduced'
    );
    expect(failed.querySelector('.scidex-Manifest-status')?.textContent).toBe('failed');
    const ok = await render(
      manifestV1({ ok: true, status: 'succeeded', steps: [stepV1(), stepV1({ step_id: 's_b' })] })
    );
    const verdict = ok.querySelector('.scidex-Manifest-verdict');
    expect(verdict?.textContent).toBe('reproduced');
    expect(verdict?.className).toContain('scidex-Chip-reproduced');
    expect(ok.querySelector('.scidex-Manifest-summary')?.textContent).toBe('2 reproduced');
  });

  it('should label a differs run as did not reproduce', async () => {
    const node = await render(manifestWithStatus('differs'));
    const verdict = node.querySelector('.scidex-Manifest-verdict');
    expect(verdict?.textContent).toBe('did not reproduce');
    expect(verdict?.className).toContain('scidex-Chip-output-differs');
    expect(node.textContent).not.toContain('failed');
  });

  it('should label a failed run as failed', async () => {
    const node = await render(manifest());
    const verdict = node.querySelector('.scidex-Manifest-verdict');
    expect(verdict?.textContent).toBe('failed');
    expect(verdict?.className).toContain('scidex-Chip-failed');
  });

  it('should label an aborted or interrupted run as such', async () => {
    for (const status of ['aborted', 'interrupted'] as const) {
      const node = await render(manifestWithStatus(status));
      expect(node.querySelector('.scidex-Manifest-verdict')?.textContent).toBe(status);
    }
  });

  it('should label a reproduced run as reproduced', async () => {
    const node = await render(manifestWithStatus('reproduced'));
    const verdict = node.querySelector('.scidex-Manifest-verdict');
    expect(verdict?.textContent).toBe('reproduced');
    expect(verdict?.className).toContain('scidex-Chip-reproduced');
  });

  it('should label a running run as running', async () => {
    const node = await render(manifestWithStatus('running'));
    expect(node.querySelector('.scidex-Manifest-verdict')?.textContent).toBe('running');
  });

  it('should show a v2 status once, as the verdict', async () => {
    const node = await render(manifestWithStatus('differs'));
    expect(node.querySelector('.scidex-Manifest-status')).toBeNull();
  });

  it('should fall back on ok for a v2 status not in the schema', async () => {
    const node = await render(manifest({ status: 'succeeded' as any, ok: true }));
    expect(node.querySelector('.scidex-Manifest-verdict')?.textContent).toBe('reproduced');
    expect(node.querySelector('.scidex-Manifest-status')?.textContent).toBe('succeeded');
  });

  it('should count the outcomes in the summary', async () => {
    const node = await render(manifest());
    const summary = Array.from(
      node.querySelectorAll('.scidex-Manifest-summary .scidex-Chip')
    ).map(c => c.textContent);
    expect(summary).toEqual(['1 reproduced', '1 output-differs', '1 failed', '1 reused']);
  });

  it('should take the status from the reason when the step has no outcome', async () => {
    const node = await render(
      manifestV1({
        steps: [
          stepV1({ outcome: undefined, reason: 'unreplayable: no handler for step_type r.script' }),
          stepV1({ outcome: undefined, reason: 'frozen: before --from', ok: null }),
          stepV1({ outcome: undefined, reason: 'skipped: upstream failed', ok: null }),
          stepV1({ outcome: undefined, reason: 'input-differs: a_x changed' })
        ]
      })
    );
    expect(chips(node)).toEqual(['unreplayable', 'frozen', 'skipped', 'input-differs']);
    const reasons = Array.from(node.querySelectorAll('.scidex-Manifest-reason')).map(
      td => td.textContent
    );
    expect(reasons).toEqual([
      'no handler for step_type r.script',
      'before --from',
      'upstream failed',
      'a_x changed'
    ]);
  });

  it('should show an unknown outcome as other without making it a class name', async () => {
    const node = await render(
      manifestV1({ steps: [stepV1({ outcome: 'x" onclick="alert(1)', reason: 'weird' })] })
    );
    const chip = node.querySelector('.scidex-Manifest-steps .scidex-Chip') as HTMLElement;
    expect(chip.className).toBe('scidex-Chip scidex-Chip-other');
    expect(chip.dataset.outcome).toBe('other');
    expect(chip.textContent).toBe('x" onclick="alert(1)');
    expect(chip.getAttribute('onclick')).toBeNull();
  });

  it('should render manifest strings as text, never as markup', async () => {
    const evil = '<img src=x onerror="window.__pwned=1"><b>bold</b>';
    const node = await render(
      manifestV1({
        run_id: evil,
        target_artifact_id: evil,
        kind: evil,
        parent_run_id: evil,
        status: evil,
        steps: [stepV1({ step_id: evil, step_type: evil, method: evil, reason: `failed: ${evil}`, outcome: 'failed', reused_from_run: evil, output_hash_live: evil })]
      })
    );
    expect(node.querySelector('.scidex-Manifest-status')?.textContent).toBe(evil);
    expect(node.querySelector('img')).toBeNull();
    expect(node.querySelector('b')).toBeNull();
    expect(node.querySelector('.scidex-Manifest-runId')?.textContent).toBe(evil);
    expect(node.querySelector('.scidex-Manifest-reason')?.textContent).toBe(evil);
    expect(node.querySelector('code.scidex-Manifest-stepId')?.getAttribute('title')).toBe(evil);
    expect((window as any).__pwned).toBeUndefined();
  });

  it('should ignore values of the wrong type instead of printing them', async () => {
    const node = await render(
      manifest({
        parent_run_id: { nested: true } as any,
        steps: [step({ step_type: ['a'] as any, duration_s: 'soon' as any })]
      })
    );
    expect(node.querySelector('.scidex-Manifest-lineage-parent dd')?.textContent).toBe(
      'none'
    );
    expect(node.querySelector('.scidex-Manifest-stepType')?.textContent).toBe('');
    expect(node.querySelector('.scidex-Manifest-duration')?.textContent).toBe('');
  });

  it('should show the step name instead of the id', async () => {
    const node = await render(manifest());
    const cell = node.querySelectorAll('.scidex-Manifest-stepLabel')[1];
    const name = cell.querySelector('.scidex-Manifest-stepName') as HTMLElement;
    expect(name.textContent).toBe('fit');
    expect(name.title).toBe("python3 '{in0}' '{in1}' '{out}'");
    expect(cell.querySelector('.scidex-Manifest-stepId')?.textContent).toBe('s_two');
    expect(cell.textContent).toBe('fit s_two');
  });

  it('should show the id of a step without a name', async () => {
    for (const data of [manifest({ steps: [step({ step_name: null })] }), manifestV1()]) {
      const node = await render(data);
      const cell = node.querySelector('.scidex-Manifest-stepLabel') as HTMLElement;
      expect(cell.querySelector('.scidex-Manifest-stepName')).toBeNull();
      expect(cell.textContent).toMatch(/^s_/);
      expect((cell.querySelector('code.scidex-Manifest-stepId') as HTMLElement).title).toBe(
        "python3 '{in0}' '{in1}' '{out}'"
      );
    }
  });

  it('should mark which of several outputs differs', async () => {
    const node = await render(manifestWithOutputs());
    expect(headings(node)).toContain('outputs');
    const rows = node.querySelectorAll('.scidex-Manifest-steps tbody tr');
    expect(outputs(rows[0])).toEqual([]);
    expect(outputs(rows[1])).toEqual([
      ['figures/fig1.png', 'reproduced'],
      ['figures/fig2.png', 'output-differs'],
      ['fit.txt', 'reproduced']
    ]);
    const differs = rows[1].querySelectorAll('.scidex-Manifest-output')[1] as HTMLElement;
    expect(differs.dataset.outcome).toBe('output-differs');
    expect(differs.querySelector('.scidex-Chip')?.className).toContain(
      'scidex-Chip-output-differs'
    );
    expect((differs.querySelector('.scidex-Manifest-outputName') as HTMLElement).title).toBe(
      'a_fig77777'
    );
  });

  it('should show an output without a name by its artifact id', async () => {
    const s = stepWithOutputs();
    s.outputs[2].name = null;
    const node = await render(manifest({ steps: [s] }));
    expect(outputs(node.querySelector('.scidex-Manifest-steps tbody tr')!)[2]).toEqual([
      'a_fig88888',
      'reproduced'
    ]);
  });

  it('should leave out the outputs column when no step has several outputs', async () => {
    const today = [
      '#',
      'step',
      'type',
      'status',
      'reason',
      'recorded output',
      'replayed output',
      'reused from',
      'time'
    ];
    expect(headings(await render(manifest()))).toEqual(today);
    expect(headings(await render(manifestV1()))).toEqual(today);
    expect((await render(manifest())).querySelector('.scidex-Manifest-output')).toBeNull();
  });

  it('should render step and output names as text, never as markup', async () => {
    const evil = '<img src=x onerror="window.__pwned=1"><b>bold</b>';
    const s = stepWithOutputs({ step_name: evil });
    s.outputs[0].name = evil;
    s.outputs[1].artifact_id = evil;
    s.outputs[2].outcome = 'x" onclick="alert(1)' as any;
    const node = await render(manifest({ steps: [s] }));
    expect(node.querySelector('img')).toBeNull();
    expect(node.querySelector('b')).toBeNull();
    expect(node.querySelector('.scidex-Manifest-stepName')?.textContent).toBe(evil);
    const names = node.querySelectorAll('.scidex-Manifest-outputName');
    expect(names[0].textContent).toBe(evil);
    expect(names[1].getAttribute('title')).toBe(evil);
    const odd = node.querySelectorAll('.scidex-Manifest-output')[2] as HTMLElement;
    expect(odd.dataset.outcome).toBe('other');
    expect(odd.querySelector('.scidex-Chip')?.className).toBe('scidex-Chip scidex-Chip-other');
    expect(odd.querySelector('.scidex-Chip')?.textContent).toBe('x" onclick="alert(1)');
    expect((window as any).__pwned).toBeUndefined();
  });

  it('should ignore outputs that are not a list of objects', async () => {
    const s = step();
    (s as any).outputs = 'figures/fig1.png';
    const t = stepWithOutputs();
    (t as any).outputs = [null, 'x', t.outputs[0]];
    const node = await render(manifest({ steps: [s, t] }));
    expect(headings(node)).not.toContain('outputs');
  });

  it('should shorten hashes and flag a replayed output that differs', async () => {
    const node = await render(manifest());
    const rows = node.querySelectorAll('.scidex-Manifest-steps tbody tr');
    const same = rows[1].querySelector('.scidex-Manifest-hashReplayed code') as HTMLElement;
    const differs = rows[2].querySelector('.scidex-Manifest-hashReplayed code') as HTMLElement;
    expect(same.textContent).toBe('666666666666');
    expect(same.title).toBe('6'.repeat(64));
    expect(same.classList.contains('scidex-Manifest-same')).toBe(true);
    expect(differs.classList.contains('scidex-Manifest-differs')).toBe(true);
    expect(rows[3].querySelector('.scidex-Manifest-hashReplayed')?.textContent).toBe('—');
    expect(rows[1].querySelector('.scidex-Manifest-duration')?.textContent).toBe('0.37 s');
  });

  it('should say the environment differs when the replay ran in another one', async () => {
    const same = await render(manifest());
    expect(same.querySelector('.scidex-Manifest-lineage-env dd')?.textContent).toBe(
      'as recorded'
    );
    const other = await render(manifest({ env: { live: ['a'.repeat(64)], replay: 'b'.repeat(64) } }));
    expect(other.querySelector('.scidex-Manifest-lineage-env dd')?.textContent).toBe(
      'differs from recorded'
    );
  });

  it('should say so when the data is not a manifest', async () => {
    for (const data of [null, 'text', [1, 2], { run_id: 'r_x' }, { run_id: 7, steps: [] }]) {
      const node = await render(data);
      expect(node.querySelector('.scidex-Manifest-invalid')).not.toBeNull();
      expect(node.querySelector('table')).toBeNull();
    }
  });

  it('should replace what it showed when the model changes', async () => {
    const widget = rendererFactory.createRenderer({ mimeType: MIME_TYPE } as any) as ManifestWidget;
    await widget.renderModel(mimeModel(manifest()));
    await widget.renderModel(mimeModel(manifest({ steps: [step()] })));
    expect(widget.node.querySelectorAll('table')).toHaveLength(1);
    expect(chips(widget.node)).toEqual(['reproduced']);
  });
});

describe('the download link', () => {
  it('should save the manifest it shows as manifest-<run_id>.json', async () => {
    const data = manifest();
    const node = await render(data);
    const link = node.querySelector('a.scidex-Manifest-download') as HTMLAnchorElement;
    expect(link.download).toBe(`manifest-${data.run_id}.json`);
    const made: Blob[] = [];
    (URL as any).createObjectURL = (blob: Blob) => {
      made.push(blob);
      return 'blob:made';
    };
    (URL as any).revokeObjectURL = () => undefined;
    link.dispatchEvent(new MouseEvent('click', { cancelable: true }));
    expect(link.getAttribute('href')).toBe('blob:made');
    expect(made).toHaveLength(1);
    const saved = await new Promise<string>(resolve => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result as string);
      reader.readAsText(made[0]);
    });
    expect(JSON.parse(saved)).toEqual(data);
  });

  it('should keep a file name out of what the run id says', () => {
    expect(downloadName({ ...manifest(), run_id: '../x y' })).toBe('manifest-.._x_y.json');
    expect(downloadName({ ...manifest(), run_id: '' })).toBe('manifest-run.json');
  });
});
