/**
 * What differs: under a step whose output's bytes differ, the comparator's
 * summary and its differences (kind, where, detail) in a collapsible block.
 */
import { rendererFactory, ManifestWidget } from '../renderer';
import { MIME_TYPE } from '../tokens';
import { manifest, manifestWithComparisons, manifestWithOutputs, mimeModel, step } from './fixtures';

async function render(data: unknown): Promise<HTMLElement> {
  const widget = rendererFactory.createRenderer({ mimeType: MIME_TYPE } as any) as ManifestWidget;
  await widget.renderModel(mimeModel(data));
  return widget.node;
}

function blocks(node: HTMLElement): HTMLDetailsElement[] {
  return Array.from(node.querySelectorAll('.scidex-Manifest-steps details.scidex-Manifest-comparison'));
}

function differences(block: Element): [string, string, string][] {
  return Array.from(block.querySelectorAll('.scidex-Manifest-difference')).map(tr => {
    const [kind, where, detail] = Array.from(tr.children).map(td => td.textContent ?? '');
    return [kind, where, detail];
  });
}

describe('comparisons', () => {
  it('should show an equivalent step with its own chip and a summary count', async () => {
    const node = await render(manifestWithComparisons());
    const chips = Array.from(node.querySelectorAll('.scidex-Manifest-steps .scidex-Chip'));
    expect(chips.map(c => c.textContent)).toEqual(['equivalent', 'output-differs']);
    expect(chips[0].className).toContain('scidex-Chip-equivalent');
    const summary = Array.from(node.querySelectorAll('.scidex-Manifest-summary .scidex-Chip')).map(
      c => c.textContent
    );
    expect(summary).toEqual(['1 equivalent', '1 output-differs']);
  });

  it("should show each compared output's summary and its differences with kind, where and detail", async () => {
    const node = await render(manifestWithComparisons());
    const [equivalent, differs] = blocks(node);
    expect(equivalent.querySelector('summary')?.textContent).toBe(
      'rates.csv equivalent: json: equivalent: only $.id (a random id) and $.created differ'
    );
    expect(differences(equivalent)).toEqual([
      ['volatile-id', '$.id', "'1f0c…' → '9b2e…'"],
      ['metadata', '$.created', '12:00:01 → 12:00:07']
    ]);
    expect(differs.querySelector('.scidex-Manifest-comparisonSummary')?.textContent).toBe(
      "content differs: column 'mean' max abs diff 0.25 (row 17), 2 of 120 rows"
    );
    expect(differences(differs).map(d => d[0])).toEqual(['content', 'numeric', 'content']);
    expect(
      Array.from(differs.querySelectorAll('.scidex-Manifest-difference')).map(tr => (tr as HTMLElement).dataset.kind)
    ).toEqual(['content', 'numeric', 'content']);
  });

  it('should open the block of a content difference and keep an equivalent one collapsed', async () => {
    const [equivalent, differs] = blocks(await render(manifestWithComparisons()));
    expect(equivalent.open).toBe(false);
    expect(differs.open).toBe(true);
  });

  it('should keep one row per step, and the reason words only where no summary says them', async () => {
    const node = await render(manifestWithComparisons());
    expect(node.querySelectorAll('.scidex-Manifest-steps tbody tr')).toHaveLength(2);
    expect(node.querySelectorAll('.scidex-Manifest-reasonText')).toHaveLength(0);
    const several = await render(manifestWithOutputs());
    expect(several.querySelector('.scidex-Manifest-reasonText')?.textContent).toBe(
      '1 of 3 outputs differ (figures/fig2.png)'
    );
  });

  it('should render what the manifest says as text, and an unknown kind as other', async () => {
    const m = manifestWithComparisons();
    const c = m.steps[1].comparison!;
    c.differences.push({ where: '<img src=x onerror=alert(1)>', kind: 'x" onclick="1' as any, detail: '<script>' });
    const node = await render(m);
    const block = blocks(node)[1];
    expect(block.querySelector('img, script')).toBeNull();
    expect(differences(block)[3]).toEqual(['x" onclick="1', '<img src=x onerror=alert(1)>', '<script>']);
    const last = block.querySelectorAll('.scidex-Manifest-difference')[3] as HTMLElement;
    expect(last.dataset.kind).toBe('other');
    expect(last.querySelector('.scidex-Kind')?.className).toBe('scidex-Kind scidex-Kind-other');
  });

  it('should say so when an output differs but nothing compared it', async () => {
    const node = await render(
      manifest({ steps: [step({ outcome: 'output-differs', ok: false, output_hash_replayed: '9'.repeat(64) })] })
    );
    const [block] = blocks(node);
    expect(block.querySelector('summary')?.textContent).toContain('no comparison');
  });

  it('should show no block for a step whose outputs reproduced, and one per differing output', async () => {
    expect(blocks(await render(manifest({ steps: [step()] })))).toHaveLength(0);
    const several = blocks(await render(manifestWithOutputs()));
    expect(several.map(b => b.querySelector('.scidex-Manifest-comparisonOutput')?.textContent)).toEqual([
      'figures/fig2.png'
    ]);
  });
});
