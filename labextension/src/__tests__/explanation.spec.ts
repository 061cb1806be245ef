/**
 * Why a step did not reproduce: under the reason of a step the replay
 * explained (`--explain`), the explanation's summary, a chip per factor with
 * its tooltip, and how many re-runs it took.
 */
import { rendererFactory, ManifestWidget } from '../renderer';
import { MIME_TYPE } from '../tokens';
import { manifest, manifestWithExplanation, mimeModel } from './fixtures';

async function render(data: unknown): Promise<HTMLElement> {
  const widget = rendererFactory.createRenderer({ mimeType: MIME_TYPE } as any) as ManifestWidget;
  await widget.renderModel(mimeModel(data));
  return widget.node;
}

function chips(node: HTMLElement): { [factor: string]: [string, string, string, string] } {
  const found: { [factor: string]: [string, string, string, string] } = {};
  for (const c of Array.from(node.querySelectorAll<HTMLElement>('.scidex-Manifest-reason .scidex-Factor'))) {
    found[c.dataset.factor ?? ''] = [c.className, c.dataset.verdict ?? '', c.title, c.textContent ?? ''];
  }
  return found;
}

describe('explanations', () => {
  it("should show the explanation's summary and cost under the step's reason", async () => {
    const node = await render(manifestWithExplanation());
    const reason = node.querySelector('.scidex-Manifest-reason')!;
    expect(reason.querySelector('.scidex-Manifest-reasonText')?.textContent).toBe('bytes differ at offset 0');
    expect(reason.querySelector('.scidex-Manifest-explanationSummary')?.textContent).toBe(
      'the output depends on the clock <img src=x onerror=alert(1)>'
    );
    expect(reason.querySelector('.scidex-Manifest-explanationCost')?.textContent).toBe('7 re-runs, 2.3 s');
  });

  it('should show one chip per factor, styled by its verdict, with the detail or reason as tooltip', async () => {
    const found = chips(await render(manifestWithExplanation()));
    expect(Object.keys(found)).toEqual(['repeat', 'clock', 'tz', 'locale', 'rng-seed']);
    expect(found.clock).toEqual([
      'scidex-Factor scidex-Factor-changes-output',
      'changes-output',
      'content: line 1: 1700000000 → 1800000000 <b>',
      'clock'
    ]);
    expect(found.tz).toEqual([
      'scidex-Factor scidex-Factor-metadata',
      'changes-output',
      'metadata: only the mtime differs',
      'tz (metadata only)'
    ]);
    expect(found.repeat).toEqual(['scidex-Factor scidex-Factor-no-effect', 'no-effect', '', 'repeat']);
    expect(found.locale).toEqual([
      'scidex-Factor scidex-Factor-not-tested',
      'not-tested',
      'no "de_DE" locale <here>',
      'locale'
    ]);
  });

  it("should keep the explanation's markup as text", async () => {
    const node = await render(manifestWithExplanation());
    expect(node.textContent).toContain('the clock <img src=x onerror=alert(1)>');
    expect(node.querySelector('.scidex-Factor-changes-output')?.getAttribute('title')).toContain('1800000000 <b>');
    expect(node.querySelector('img')).toBeNull();
    expect(node.querySelector('.scidex-Manifest-reason b')).toBeNull();
  });

  it('should show no explanation for a step without one', async () => {
    const node = await render(manifest());
    expect(node.querySelector('.scidex-Manifest-explanation')).toBeNull();
    expect(node.querySelector('.scidex-Factor')).toBeNull();
  });
});
