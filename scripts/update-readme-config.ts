// Rewrites the configuration tables between the config markers in README.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { configTables } from './config-table.js';

const file = new URL('../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const updated = readme.replace(
  /<!-- config:start -->[\s\S]*<!-- config:end -->/,
  `<!-- config:start -->\n${configTables()}<!-- config:end -->`,
);
writeFileSync(file, updated);
