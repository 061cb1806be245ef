import { magicLine } from '../artifact';
import {
  isManifest,
  keptManifests,
  manifestsInOutputs,
  outcomeOf,
  statusOf,
  withManifest
} from '../manifest';
import { MIME_TYPE } from '../tokens';
import { manifest, manifestV1, manifestWithStatus, step, stepV1 } from './fixtures';

describe('isManifest', () => {
  it('should accept an object with a run_id and a list of steps', () => {
    expect(isManifest(manifest())).toBe(true);
    expect(isManifest(manifestV1())).toBe(true);
    expect(isManifest({ run_id: 'r_1', steps: [] })).toBe(true);
  });

  it('should reject anything else', () => {
    for (const value of [
      undefined,
      null,
      'r_1',
      [],
      { run_id: '', steps: [] },
      { run_id: 'r_1' },
      { run_id: 'r_1', steps: {} },
      { run_id: 'r_1', steps: [null] },
      { run_id: 'r'.repeat(201), steps: [] }
    ]) {
      expect(isManifest(value)).toBe(false);
    }
  });
});

describe('statusOf', () => {
  it('should read the status of a v2 manifest', () => {
    expect(statusOf(manifest())).toBe('failed');
    expect(statusOf(manifestWithStatus('differs'))).toBe('differs');
  });

  it('should give none for a v1 manifest or a status not in the schema', () => {
    expect(statusOf(manifestV1())).toBeNull();
    expect(statusOf(manifest({ status: 'constructor' as any }))).toBeNull();
    expect(statusOf({ run_id: 'r_1', steps: [] } as any)).toBeNull();
  });
});

describe('outcomeOf', () => {
  it('should prefer the outcome field and fall back on the reason code', () => {
    expect(outcomeOf(step({ outcome: 'reused', reason: 'reproduced' }))).toBe('reused');
    expect(outcomeOf(stepV1({ outcome: undefined, reason: 'failed: exit 3' }))).toBe('failed');
    expect(outcomeOf(stepV1({ outcome: undefined, reason: undefined }))).toBe('other');
    expect(outcomeOf(stepV1({ outcome: 'constructor' }))).toBe('other');
  });
});

describe('manifestsInOutputs', () => {
  it('should find the manifests among output bundles', () => {
    const m = manifest();
    const found = manifestsInOutputs([
      { 'text/plain': 'hello' },
      undefined,
      { [MIME_TYPE]: m, 'text/plain': 'run r_4h7x8vps' },
      { [MIME_TYPE]: { not: 'a manifest' } }
    ]);
    expect(found).toEqual([m]);
  });
});

describe('withManifest', () => {
  it('should key the manifest by run id and keep what was there', () => {
    const old = manifest({ run_id: 'r_old' });
    const value = withManifest({ manifests: { r_old: old }, note: 'kept' }, manifest());
    expect(value).toEqual({
      manifests: { r_old: old, r_4h7x8vps: manifest() },
      note: 'kept'
    });
  });

  it('should start from nothing when there is no metadata yet', () => {
    expect(withManifest(undefined, manifest())).toEqual({
      manifests: { r_4h7x8vps: manifest() }
    });
    expect(withManifest('garbage', manifest())).toEqual({
      manifests: { r_4h7x8vps: manifest() }
    });
  });

  it('should return null when the same manifest is already kept', () => {
    const once = withManifest(undefined, manifest());
    expect(withManifest(once, manifest())).toBeNull();
  });

  it('should replace a kept manifest that changed', () => {
    const once = withManifest(undefined, manifest());
    const twice = withManifest(once, manifest({ status: 'reproduced' }));
    expect((twice as any).manifests.r_4h7x8vps.status).toBe('reproduced');
  });

  it('should copy the manifest rather than share it', () => {
    const m = manifest();
    const value = withManifest(undefined, m) as any;
    m.steps[0].reason = 'changed afterwards';
    expect(value.manifests.r_4h7x8vps.steps[0].reason).toBe('reused: run r_parent01');
  });

  it('should store a run id like __proto__ as a plain key', () => {
    const value = withManifest(undefined, manifest({ run_id: '__proto__' })) as any;
    expect(Object.keys(value.manifests)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(value.manifests)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(value)).manifests.__proto__.run_id).toBe('__proto__');
  });
});

describe('keptManifests', () => {
  it('should list the kept manifests and skip broken entries', () => {
    const m = manifest();
    expect(keptManifests({ manifests: { r_4h7x8vps: m, r_bad: { x: 1 } } })).toEqual({
      r_4h7x8vps: m
    });
    expect(keptManifests(undefined)).toEqual({});
    expect(keptManifests({ manifests: [m] })).toEqual({});
  });
});

describe('magicLine', () => {
  it('should run the magic without its widget', () => {
    expect(magicLine('a_18ajb11n')).toBe('%rerun_artifact a_18ajb11n --no-widget');
  });

  it('should refuse ids that would add arguments or code', () => {
    for (const id of ['', 'a b', '--strict', 'a;b', "a'", 'a\nb', '%x']) {
      expect(() => magicLine(id)).toThrow('not an artifact id');
    }
  });
});
