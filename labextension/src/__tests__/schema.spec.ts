/**
 * The manifest contract is one JSON Schema file in the Python package. These
 * tests hold the extension to it: src/schema.ts is generated from it, and the
 * fixtures the other specs render are manifests it accepts.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import Ajv2020 from 'ajv/dist/2020';

import { OUTCOMES } from '../manifest';
import type { ManifestV2 } from '../schema';
import type { IReplayManifestV1 } from '../tokens';
import { allFixtures, manifest, manifestV1, step } from './fixtures';

const ROOT = path.resolve(__dirname, '../..');
const SCHEMA = path.resolve(ROOT, '../scidex_replay/replay/schemas/manifest.schema.json');

const schema = JSON.parse(fs.readFileSync(SCHEMA, 'utf8'));
const validate = new Ajv2020({ allErrors: true }).compile(schema);

function errors(value: unknown): string[] {
  return validate(value)
    ? []
    : (validate.errors ?? []).map(e => `${e.instancePath} ${e.message}`);
}

describe('src/schema.ts', () => {
  it('should be generated from the schema file as it is now (else: jlpm build:schema)', () => {
    // In a child process: the generator's prettier needs ES modules, which jest's runtime lacks.
    const generated = execFileSync(process.execPath, ['scripts/schema.js', '--stdout'], {
      cwd: ROOT,
      encoding: 'utf8'
    });
    expect(fs.readFileSync(path.join(ROOT, 'src/schema.ts'), 'utf8')).toBe(generated);
  });

  it('should list the outcomes of the schema, in its order', () => {
    expect(OUTCOMES).toEqual(schema.$defs.outcome.enum);
  });
});

describe('manifest.schema.json', () => {
  it('should accept a v2 manifest', () => {
    expect(errors(manifest())).toEqual([]);
  });

  it('should accept a v1 manifest', () => {
    expect(errors(manifestV1())).toEqual([]);
  });

  it('should reject a step with an outcome not in the schema', () => {
    const bad = manifest({ steps: [step({ outcome: 'succeeded' as any })] });
    expect(errors(bad)).toContain('/steps/0/outcome must be equal to one of the allowed values');
  });

  it('should reject a manifest without a required field', () => {
    const v2: Partial<ManifestV2> = manifest();
    delete v2.status;
    expect(errors(v2)).toContain(" must have required property 'status'");
    const v1: Partial<IReplayManifestV1> = manifestV1();
    delete v1.run_id;
    expect(errors(v1)).toContain(" must have required property 'run_id'");
  });

  it('should reject a v2 run status of the first wave', () => {
    const bad = manifest({ status: 'succeeded' as any });
    expect(errors(bad)).toContain('/status must be equal to one of the allowed values');
  });

  it.each(Object.entries(allFixtures()))(
    'should accept the %s fixture of the specs',
    (_name, fixture) => {
      expect(errors(fixture)).toEqual([]);
    }
  );
});
