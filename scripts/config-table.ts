// The configuration tables for README.md, built from the schemas themselves so the README cannot drift.
// `node --import tsx scripts/update-readme-config.ts` rewrites them in place.
import { cloudConfigShape } from '../cloud-sync/config.js';
import { type ConfigShape, describeConfig } from '../common/config.js';
import { deviceConfigShape } from '../device/config.js';

function table(title: string, shape: ConfigShape): string {
  const rows = describeConfig(shape).map((v) => {
    const def = v.name === 'AIDE_TIMEZONE' ? "the system's" : v.default === '' ? '—' : `\`${v.default}\``;
    return `| \`${v.name}\` | ${def} | ${v.description.replace(/\|/g, '\\|')} |`;
  });
  return [`### ${title}`, '', '| variable | default | meaning |', '| --- | --- | --- |', ...rows, ''].join(
    '\n',
  );
}

export function configTables(): string {
  return `${table('Device agent (`aide device`)', deviceConfigShape)}\n${table('Cloud services (`aide cloud ingest|api|notify`)', cloudConfigShape)}`;
}
