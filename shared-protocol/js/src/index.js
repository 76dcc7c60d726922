// Arcane Realms JavaScript SDK: a dependency-free ES module (see README.md).
export * from './codec.js';
export * from './messages.js';
export * from './view.js';
export * from './prediction.js';
export * from './client.js';
