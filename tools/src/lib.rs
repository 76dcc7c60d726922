//! Library side of the `arcane` tools: what tests share with the binary (the ops
//! manifests generated from repository files, the fault suite and its world).

pub mod chaos;
pub mod ops;
