/**
 * Generates src/schema.ts from the manifest JSON Schema that the Python
 * package ships, the one source of the manifest contract: its types (by
 * json-schema-to-typescript) and the outcome, status and difference-kind
 * lists of its enums.
 *
 * `jlpm build:schema` writes the file; with `--stdout` the text is printed
 * instead, which src/__tests__/schema.spec.ts compares with the committed file.
 */
const fs = require('fs');
const path = require('path');
const { compile } = require('json-schema-to-typescript');

const SCHEMA = path.resolve(
  __dirname,
  '../../scidex_replay/replay/schemas/manifest.schema.json'
);
const OUTPUT = path.resolve(__dirname, '../src/schema.ts');

const BANNER = `/**
 * Generated from scidex_replay/replay/schemas/manifest.schema.json by
 * \`jlpm build:schema\`. Do not edit: change the schema and regenerate.
 */`;

/**
 * The text of src/schema.ts for the schema file as it is now.
 */
async function generate() {
  const schema = JSON.parse(fs.readFileSync(SCHEMA, 'utf8'));
  const types = await compile(schema, 'Manifest', {
    bannerComment: BANNER,
    cwd: path.dirname(SCHEMA),
    unreachableDefinitions: true,
    style: { singleQuote: true }
  });
  return (
    types +
    enumList('OUTCOMES', 'Outcome', schema.$defs.outcome.enum) +
    enumList('STATUSES', 'Status', schema.$defs.status.enum) +
    enumList(
      'KINDS',
      "Comparison['differences'][number]['kind']",
      schema.$defs.comparison.properties.differences.items.properties.kind.enum,
      'difference kind'
    )
  );
}

function enumList(name, type, values, what = '') {
  const items = values.map(v => `  ${JSON.stringify(v)}`).join(',\n');
  const doc = what ? `Every ${what}, in the schema's order.` : `Every {@link ${type}}, in the schema's order.`;
  return `
/**
 * ${doc}
 */
export const ${name}: readonly ${type}[] = [
${items}
];
`;
}

generate().then(
  text => {
    if (process.argv.includes('--stdout')) {
      process.stdout.write(text);
    } else {
      fs.writeFileSync(OUTPUT, text);
    }
  },
  error => {
    console.error(error);
    process.exit(1);
  }
);
