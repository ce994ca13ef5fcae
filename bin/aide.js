#!/usr/bin/env node
// Launcher: registers the TypeScript loader, then runs the CLI written in TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./aide.ts');
