import { drawGraph, IGraph, isGraph, layoutGraph, manifestToGraph, MAX_LABEL, showProgress } from '../graph';
import { GraphWidget } from '../graph-renderer';
import { renderManifest } from '../renderer';
import { GRAPH_MIME_TYPE } from '../graph';
import { manifest, mimeModel, step } from './fixtures';

/**
 * data.csv → clean → clean.csv → sample → sample.csv → report → report.md, as
 * a restart that reused `clean` from r_parent01 and whose sample differs.
 */
function chainManifest() {
  const s = (id: string, name: string, input: [string, string], output: [string, string], extra = {}) =>
    step({
      step_id: id,
      step_name: name,
      target_artifact_id: output[0],
      inputs: [{ artifact_id: input[0], name: input[1] }],
      outputs: [
        { artifact_id: output[0], name: output[1], hash_live: 'a'.repeat(64), hash_replayed: 'a'.repeat(64), ok: true, outcome: 'reproduced', comparison: null }
      ],
      ...extra
    });
  return manifest({
    target_artifact_id: 'a_report',
    steps: [
      s('s_clean', 'clean', ['a_raw', 'data.csv'], ['a_clean', 'clean.csv'], { outcome: 'reused', reused_from_run: 'r_parent01' }),
      s('s_sample', 'sample', ['a_clean', 'clean.csv'], ['a_sample', 'sample.csv'], { outcome: 'output-differs' }),
      s('s_report', 'report', ['a_sample', 'sample.csv'], ['a_report', 'report.md'], { outcome: 'input-differs' })
    ]
  });
}

/** The graph of the same chain as the server's chain_graph writes it. */
function serverGraph(): IGraph {
  const art = (id: string, label: string, role: 'source' | 'intermediate' | 'target', outcome: string | null) => ({
    id: `artifact:${id}`, type: 'artifact' as const, artifact_id: id, label, kind: 'csv', role, outcome
  });
  const st = (id: string, label: string, position: number, outcome: string | null, reused: string | null = null) => ({
    id: `step:${id}`, type: 'step' as const, step_id: id, label, step_type: 'shell', method: `python ${label}.py`,
    parameters: { argv: ['python', `${label}.py`] }, position, outcome, reused_from_run: reused
  });
  return {
    schema: 'scidex-replay/graph/v1',
    target: 'a_report',
    run: { run_id: 'r_1', kind: 'fork', status: 'differs', parent_run_id: 'r_0', from_step: 's_sample' },
    nodes: [
      art('a_raw', 'data.csv', 'source', null),
      st('s_clean', 'clean', 1, 'reused', 'r_0'),
      art('a_clean', 'clean.csv', 'intermediate', 'reused'),
      st('s_sample', 'sample', 2, 'output-differs'),
      art('a_sample', 'sample.csv', 'intermediate', 'output-differs'),
      st('s_report', 'report', 3, null),
      art('a_report', 'report.md', 'target', null)
    ],
    edges: [
      { source: 'artifact:a_raw', target: 'step:s_clean' },
      { source: 'step:s_clean', target: 'artifact:a_clean' },
      { source: 'artifact:a_clean', target: 'step:s_sample' },
      { source: 'step:s_sample', target: 'artifact:a_sample' },
      { source: 'artifact:a_sample', target: 'step:s_report' },
      { source: 'step:s_report', target: 'artifact:a_report' }
    ]
  };
}

describe('manifestToGraph', () => {
  it('gives a node per step and artifact and an edge per input and output', () => {
    const g = manifestToGraph(chainManifest());
    expect(g.schema).toBe('scidex-replay/graph/v1');
    expect(g.nodes.map(n => n.id)).toEqual([
      'artifact:a_raw', 'step:s_clean', 'artifact:a_clean', 'step:s_sample', 'artifact:a_sample', 'step:s_report', 'artifact:a_report'
    ]);
    expect(g.edges).toEqual(serverGraph().edges);
    const byId = new Map(g.nodes.map(n => [n.id, n]));
    expect(byId.get('artifact:a_raw')?.role).toBe('source');
    expect(byId.get('artifact:a_clean')?.role).toBe('intermediate');
    expect(byId.get('artifact:a_report')?.role).toBe('target');
    expect(byId.get('artifact:a_raw')?.label).toBe('data.csv');
    expect(byId.get('step:s_clean')?.reused_from_run).toBe('r_parent01');
    expect(byId.get('step:s_sample')?.outcome).toBe('output-differs');
    expect(byId.get('step:s_report')?.position).toBe(3);
    expect(g.run).toEqual({ run_id: 'r_4h7x8vps', kind: 'restart', status: 'failed', parent_run_id: 'r_parent01', from_step: null });
  });

  it('draws a step without inputs (an older manifest) with its outputs only', () => {
    const g = manifestToGraph(manifest({ steps: [step({ step_id: 's_x' })] }));
    expect(g.nodes.map(n => n.id)).toEqual(['step:s_x', 'artifact:a_8r4ntf05']);
    expect(g.edges).toEqual([{ source: 'step:s_x', target: 'artifact:a_8r4ntf05' }]);
  });
});

describe('layoutGraph', () => {
  it('lays the chain out left to right, every node inside the drawing, none overlapping', () => {
    const layout = layoutGraph(serverGraph());
    expect(layout.nodes).toHaveLength(7);
    const at = new Map(layout.nodes.map(n => [n.id, n]));
    for (const e of layout.edges) {
      expect(at.get(e.source)!.x).toBeLessThan(at.get(e.target)!.x);
      expect(e.points.length).toBeGreaterThanOrEqual(2);
    }
    for (const n of layout.nodes) {
      expect(n.x - n.width / 2).toBeGreaterThanOrEqual(0);
      expect(n.x + n.width / 2).toBeLessThanOrEqual(layout.width);
      expect(n.y + n.height / 2).toBeLessThanOrEqual(layout.height);
    }
    layout.nodes.forEach((a, i) =>
      layout.nodes.slice(i + 1).forEach(b => {
        const apart = Math.abs(a.x - b.x) >= (a.width + b.width) / 2 || Math.abs(a.y - b.y) >= (a.height + b.height) / 2;
        expect(apart).toBe(true);
      })
    );
  });

  it('puts two inputs of one step in the same column, one above the other', () => {
    const g = serverGraph();
    g.nodes.push({ id: 'artifact:a_cfg', type: 'artifact', artifact_id: 'a_cfg', label: 'cfg.json', outcome: null, role: 'source' });
    g.edges.push({ source: 'artifact:a_cfg', target: 'step:s_clean' });
    const at = new Map(layoutGraph(g).nodes.map(n => [n.id, n]));
    expect(at.get('artifact:a_cfg')!.x).toBe(at.get('artifact:a_raw')!.x);
    expect(at.get('artifact:a_cfg')!.y).not.toBe(at.get('artifact:a_raw')!.y);
  });

  it('cuts long labels and says where a step was reused from', () => {
    const g = serverGraph();
    g.nodes[0].label = 'x'.repeat(80);
    const layout = layoutGraph(g);
    expect(layout.nodes[0].text).toHaveLength(MAX_LABEL);
    expect(layout.nodes[0].text.endsWith('…')).toBe(true);
    expect(layout.nodes[1].detail).toBe('reused r_0');
    expect(layout.nodes[3].detail).toBe('#2 shell');
  });

  it('leaves out edges to nodes the graph does not have', () => {
    const g = serverGraph();
    g.edges.push({ source: 'artifact:a_gone', target: 'step:s_clean' });
    expect(layoutGraph(g).edges).toHaveLength(6);
  });
});

describe('isGraph', () => {
  it('accepts a graph and refuses what is not one', () => {
    expect(isGraph(serverGraph())).toBe(true);
    expect(isGraph(manifestToGraph(chainManifest()))).toBe(true);
    expect(isGraph(null)).toBe(false);
    expect(isGraph({ nodes: [], edges: {} })).toBe(false);
    expect(isGraph({ nodes: [{ id: 'x', type: 'task' }], edges: [] })).toBe(false);
    expect(isGraph({ nodes: [], edges: [{ source: 1, target: 'x' }] })).toBe(false);
  });
});

describe('drawGraph', () => {
  it('draws steps and artifacts as distinct shapes, coloured by outcome, the target marked', () => {
    const root = drawGraph(serverGraph());
    const nodes = Array.from(root.querySelectorAll<SVGGElement>('.scidex-Graph-node'));
    expect(nodes).toHaveLength(7);
    expect(root.querySelectorAll('.scidex-Graph-step')).toHaveLength(3);
    expect(root.querySelectorAll('.scidex-Graph-artifact')).toHaveLength(4);
    expect(root.querySelectorAll('.scidex-Graph-edge')).toHaveLength(6);
    const rx = (sel: string) => Number(root.querySelector(`${sel} .scidex-Graph-shape`)!.getAttribute('rx'));
    expect(rx('.scidex-Graph-artifact')).toBeGreaterThan(rx('.scidex-Graph-step'));
    expect(nodes.map(n => n.dataset.outcome)).toEqual(['none', 'reused', 'reused', 'output-differs', 'output-differs', 'none', 'none']);
    expect(nodes.map(n => n.querySelector('.scidex-Graph-label')!.textContent)).toEqual([
      'data.csv', 'clean', 'clean.csv', 'sample', 'sample.csv', 'report', 'report.md'
    ]);
    const target = root.querySelectorAll<SVGGElement>('.scidex-Graph-target');
    expect(Array.from(target).map(t => t.dataset.nodeId)).toEqual(['artifact:a_report']);
    const reused = root.querySelector<SVGGElement>('.scidex-Graph-reused')!;
    expect(reused.dataset.reusedFrom).toBe('r_0');
    expect(reused.querySelector('.scidex-Graph-detail')!.textContent).toBe('reused r_0');
  });

  it('shows the run as chips: kind, status, parent run, from step', () => {
    const chips = Array.from(drawGraph(serverGraph()).querySelectorAll('.scidex-Graph-run .scidex-Chip'));
    expect(chips.map(c => c.textContent)).toEqual(['fork', 'differs', 'from run r_0', 'from step s_sample']);
    expect(chips[0].className).toContain('scidex-RunKind-fork');
    const none = drawGraph({ ...serverGraph(), run: null });
    expect(none.querySelector('.scidex-Graph-run')!.textContent).toBe('not replayed yet');
  });

  it('says so for a graph without nodes, with no SVG', () => {
    const empty = { schema: 'scidex-replay/graph/v1', target: null, run: null, nodes: [], edges: [] };
    expect(layoutGraph(empty)).toEqual({ width: 0, height: 0, nodes: [], edges: [] });
    const root = drawGraph(empty);
    expect(root.querySelector('svg')).toBeNull();
    expect(root.querySelector('.scidex-Graph-empty')!.textContent).toBe('no steps to draw');
  });

  it('keeps labels as text', () => {
    const g = serverGraph();
    g.nodes[0].label = '<img src=x onerror=alert(1)>';
    g.nodes[0].outcome = 'x" onclick="alert(1)';
    const root = drawGraph(g);
    expect(root.querySelector('img')).toBeNull();
    const first = root.querySelector<SVGGElement>('.scidex-Graph-node')!;
    expect(first.dataset.outcome).toBe('other');
    expect(first.querySelector('title')!.textContent).toContain('<img src=x');
  });

  it('calls onSelect with the node clicked or entered', () => {
    const selected: string[] = [];
    const root = drawGraph(serverGraph(), { onSelect: n => selected.push(n.id) });
    const nodes = root.querySelectorAll('.scidex-Graph-node');
    nodes[3].dispatchEvent(new MouseEvent('click', { bubbles: true }));
    nodes[0].dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    expect(selected).toEqual(['step:s_sample', 'artifact:a_raw']);
  });

  it('marks the running step and colours the steps done', () => {
    const root = drawGraph({ ...serverGraph(), run: null });
    showProgress(root, 's_sample', [{ step_id: 's_clean', outcome: 'reproduced' }, { step_id: 's_sample', outcome: null }]);
    const current = root.querySelectorAll<SVGGElement>('.scidex-Graph-current');
    expect(Array.from(current).map(n => n.dataset.nodeId)).toEqual(['step:s_sample']);
    expect(root.querySelector<SVGGElement>('[data-node-id="step:s_clean"]')!.dataset.outcome).toBe('reproduced');
    showProgress(root, null, []);
    expect(root.querySelectorAll('.scidex-Graph-current')).toHaveLength(0);
  });
});

describe('renderers', () => {
  it('the manifest renderer draws the run\'s graph under its table', () => {
    const node = renderManifest(chainManifest());
    const graph = node.querySelector('.scidex-Manifest-graph .scidex-Graph')!;
    expect(graph.querySelectorAll('.scidex-Graph-node')).toHaveLength(7);
    expect(graph.querySelectorAll('.scidex-Graph-step[data-outcome="reused"]')).toHaveLength(1);
    // the table and its chips are still there, the graph's run chips are not drawn twice
    expect(node.querySelectorAll('.scidex-Manifest-steps .scidex-Chip')).toHaveLength(3);
    expect(graph.querySelector('.scidex-Graph-run')).toBeNull();
  });

  it('the graph renderer draws a graph and shows a node\'s details on click', async () => {
    const widget = new GraphWidget({ mimeType: GRAPH_MIME_TYPE } as never);
    await widget.renderModel(mimeModel(serverGraph(), GRAPH_MIME_TYPE));
    expect(widget.node.querySelectorAll('.scidex-Graph-node')).toHaveLength(7);
    widget.node.querySelectorAll('.scidex-Graph-node')[3].dispatchEvent(new MouseEvent('click'));
    const details = widget.node.querySelector('.scidex-Graph-details')!;
    expect(details.querySelector('[data-field="method"]')!.textContent).toBe('python sample.py');
    expect(details.querySelector('[data-field="outcome"]')!.textContent).toBe('output-differs');
    expect(JSON.parse(details.querySelector('[data-field="parameters"]')!.textContent!)).toEqual({ argv: ['python', 'sample.py'] });
    await widget.renderModel(mimeModel({ nodes: 'no' }, GRAPH_MIME_TYPE));
    expect(widget.node.textContent).toContain('Not a scidex-replay graph');
  });
});
