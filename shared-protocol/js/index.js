// The package entry: the SDK's modules (types for TypeScript in index.d.ts).
export * from './src/index.js';
