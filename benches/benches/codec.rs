//! Codec comparison on a real snapshot: bincode 2 (our format, with the hand-written
//! short form for position updates), postcard and bitcode (both via serde derive).
//! Sizes are printed once; times come from criterion.

use arcane_benches::sample_snapshot;
use arcane_protocol::ServerMessage;
use arcane_protocol::codec::{decode_server_message, encode_server_message};
use criterion::{Criterion, criterion_group, criterion_main};

fn codecs(c: &mut Criterion) {
    let msg = ServerMessage::Snapshot(sample_snapshot());
    let mut bin = Vec::new();
    encode_server_message(&msg, &mut bin).unwrap_or_default();
    let post = postcard::to_allocvec(&msg).unwrap_or_default();
    let bitc = bitcode::serialize(&msg).unwrap_or_default();
    if let ServerMessage::Snapshot(s) = &msg {
        let mut updates = Vec::new();
        arcane_protocol::codec::encode_into(&s.updates, &mut updates).unwrap_or_default();
        println!(
            "updates section: {} B for {} moving entities = {:.2} B per update (incl. the count prefix)",
            updates.len(),
            s.updates.len(),
            updates.len() as f64 / s.updates.len().max(1) as f64
        );
        println!(
            "snapshot: {} enters, {} updates, {} leaves -> bincode {} B, postcard {} B, bitcode {} B",
            s.enters.len(),
            s.updates.len(),
            s.leaves.len(),
            bin.len(),
            post.len(),
            bitc.len()
        );
    }
    let mut g = c.benchmark_group("codec");
    g.bench_function("bincode2_encode", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            encode_server_message(&msg, &mut out)
        })
    });
    g.bench_function("postcard_encode", |b| {
        b.iter(|| postcard::to_allocvec(&msg))
    });
    g.bench_function("bitcode_encode", |b| b.iter(|| bitcode::serialize(&msg)));
    g.bench_function("bincode2_decode", |b| {
        b.iter(|| decode_server_message(&bin))
    });
    g.bench_function("postcard_decode", |b| {
        b.iter(|| postcard::from_bytes::<ServerMessage>(&post))
    });
    g.bench_function("bitcode_decode", |b| {
        b.iter(|| bitcode::deserialize::<ServerMessage>(&bitc))
    });
    g.finish();
}

criterion_group!(benches, codecs);
criterion_main!(benches);
