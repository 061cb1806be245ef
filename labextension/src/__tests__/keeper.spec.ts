import { Signal } from '@lumino/signaling';

import { ManifestKeeper } from '../keeper';
import { WIDGET_VIEW } from '../manifest';
import { IManifestKeeper, METADATA_KEY, MIME_TYPE } from '../tokens';
import { manifest } from './fixtures';

/**
 * Just enough of the notebook, cell and output models for the keeper.
 */
class FakeOutputs {
  changed = new Signal<this, unknown>(this);
  stateChanged = new Signal<this, number>(this);
  isDisposed = false;
  items: { data: { [mime: string]: unknown }; toJSON?: () => object }[] = [];
  get length() {
    return this.items.length;
  }
  get(i: number) {
    return this.items[i];
  }
  add(data: { [mime: string]: unknown }) {
    this.items.push({ data });
    this.changed.emit({ type: 'add' });
  }
  clear() {
    this.items = [];
    this.changed.emit({ type: 'remove' });
  }
  set(i: number, output: { data: { [mime: string]: unknown } }) {
    this.items[i] = { data: output.data, toJSON: () => output };
    this.changed.emit({ type: 'set' });
  }
}

class FakeCell {
  constructor(public type = 'code') {}
  isDisposed = false;
  outputs = new FakeOutputs();
}

class FakeCells {
  changed = new Signal<this, { newValues: FakeCell[] }>(this);
  items: FakeCell[] = [];
  get length() {
    return this.items.length;
  }
  get(i: number) {
    return this.items[i];
  }
  push(cell: FakeCell) {
    this.items.push(cell);
    this.changed.emit({ newValues: [cell] });
  }
}

class FakeModel {
  isDisposed = false;
  dirty = false;
  cells = new FakeCells();
  metadata: { [key: string]: unknown } = {};
  writes = 0;
  getMetadata(key: string) {
    return this.metadata[key];
  }
  setMetadata(key: string, value: unknown) {
    this.writes++;
    this.metadata[key] = JSON.parse(JSON.stringify(value));
  }
}

function setup(model: FakeModel) {
  const tracker = {
    forEach: (fn: (panel: unknown) => void) => fn({ content: { model } }),
    widgetAdded: new Signal<unknown, unknown>({})
  };
  const keeper = new ManifestKeeper(tracker as any);
  const kept: IManifestKeeper.IKept[] = [];
  keeper.manifestKept.connect((_, args) => kept.push(args));
  return { keeper, kept };
}

describe('ManifestKeeper', () => {
  it('should copy a displayed manifest into the notebook metadata', () => {
    const model = new FakeModel();
    const cell = new FakeCell();
    model.cells.push(cell);
    const { keeper, kept } = setup(model);
    cell.outputs.add({ 'text/plain': 'replaying…' });
    cell.outputs.add({ [MIME_TYPE]: manifest(), 'text/plain': 'run r_4h7x8vps' });
    expect(model.metadata[METADATA_KEY]).toEqual({
      manifests: { r_4h7x8vps: manifest() }
    });
    expect(keeper.manifests(model as any)).toEqual({ r_4h7x8vps: manifest() });
    expect(kept.map(k => k.manifest.run_id)).toEqual(['r_4h7x8vps']);
  });

  it('should keep the manifest after the outputs are cleared', () => {
    const model = new FakeModel();
    const cell = new FakeCell();
    model.cells.push(cell);
    setup(model);
    cell.outputs.add({ [MIME_TYPE]: manifest() });
    cell.outputs.clear();
    expect(Object.keys((model.metadata[METADATA_KEY] as any).manifests)).toEqual([
      'r_4h7x8vps'
    ]);
  });

  it('should watch cells added later and keep one entry per run', () => {
    const model = new FakeModel();
    const { kept } = setup(model);
    const first = new FakeCell();
    const second = new FakeCell();
    model.cells.push(first);
    model.cells.push(new FakeCell('markdown'));
    model.cells.push(second);
    first.outputs.add({ [MIME_TYPE]: manifest({ run_id: 'r_a' }) });
    second.outputs.add({ [MIME_TYPE]: manifest({ run_id: 'r_b', kind: 'fork', parent_run_id: 'r_a' }) });
    const manifests = (model.metadata[METADATA_KEY] as any).manifests;
    expect(Object.keys(manifests).sort()).toEqual(['r_a', 'r_b']);
    expect(manifests.r_b.parent_run_id).toBe('r_a');
    expect(kept).toHaveLength(2);
  });

  it('should pick up manifests already in the outputs of an opened notebook', () => {
    const model = new FakeModel();
    const cell = new FakeCell();
    cell.outputs.items.push({ data: { [MIME_TYPE]: manifest() } });
    model.cells.items.push(cell);
    setup(model);
    expect((model.metadata[METADATA_KEY] as any).manifests.r_4h7x8vps).toEqual(manifest());
  });

  it('should not rewrite the metadata for a manifest it already keeps', () => {
    const model = new FakeModel();
    const cell = new FakeCell();
    model.cells.push(cell);
    setup(model);
    cell.outputs.add({ [MIME_TYPE]: manifest() });
    cell.outputs.add({ 'text/plain': 'more output' });
    cell.outputs.stateChanged.emit(0);
    expect(model.writes).toBe(1);
  });

  it('should leave other metadata and non-manifest outputs alone', () => {
    const model = new FakeModel();
    model.metadata[METADATA_KEY] = { note: 'mine' };
    model.metadata['kernelspec'] = { name: 'python3' };
    const cell = new FakeCell();
    model.cells.push(cell);
    setup(model);
    cell.outputs.add({ [MIME_TYPE]: { run_id: 'r_x' } });
    expect(model.writes).toBe(0);
    cell.outputs.add({ [MIME_TYPE]: manifest() });
    expect(model.metadata[METADATA_KEY]).toEqual({
      note: 'mine',
      manifests: { r_4h7x8vps: manifest() }
    });
    expect(model.metadata['kernelspec']).toEqual({ name: 'python3' });
  });

  it('should settle a widget left beside its manifest into the static manifest', () => {
    const model = new FakeModel();
    const cell = new FakeCell();
    const widget = { model_id: 'abc', version_major: 2, version_minor: 0 };
    const bundle = { [WIDGET_VIEW]: widget, [MIME_TYPE]: manifest(), 'text/plain': 'ReplayWidget' };
    cell.outputs.items.push({
      data: bundle,
      toJSON: () => ({ output_type: 'display_data', data: bundle, metadata: {} })
    });
    cell.outputs.items.push({ data: { [WIDGET_VIEW]: widget } }); // a widget alone: not ours to settle
    model.cells.items.push(cell);
    const { keeper } = setup(model);
    keeper.settle(model as any);
    expect(cell.outputs.items[0].data).toEqual({ [MIME_TYPE]: manifest(), 'text/plain': 'ReplayWidget' });
    expect((cell.outputs.items[0].toJSON as () => any)().output_type).toBe('display_data');
    expect(cell.outputs.items[1].data).toEqual({ [WIDGET_VIEW]: widget });
    expect(model.dirty).toBe(false);
    expect((model.metadata[METADATA_KEY] as any).manifests.r_4h7x8vps).toEqual(manifest());
  });
});
