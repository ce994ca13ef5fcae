export * from './envelope.js';
export * from './payloads.js';
export * from './settings.js';
export * from './topics.js';
