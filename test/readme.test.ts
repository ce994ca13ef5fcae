import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configTables } from '../scripts/config-table.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('the README lists every configuration variable with its current default', () => {
  const block = readme.match(/<!-- config:start -->\n([\s\S]*)<!-- config:end -->/)?.[1];
  assert.equal(block, configTables(), 'run: node --import tsx scripts/update-readme-config.ts');
});

test('the README quick start is the two commands CI and newcomers run', () => {
  assert.match(readme, /```sh\nnpm ci && npm start\n```/);
  assert.match(readme, /```sh\nnpm test\n```/);
  assert.match(readFileSync(new URL('../.ci/run', import.meta.url), 'utf8'), /^npm test$/m);
});
