//! Library side of the `arcane` tools: what tests share with the binary (the ops
//! manifests generated from repository files).

pub mod ops;
