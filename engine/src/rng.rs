//! The zone's seeded random streams. Every random choice in the simulation draws from
//! one of these so a replay with the same seed reproduces the run.

use bevy_ecs::prelude::Resource;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// Independent streams, so adding a draw in one system does not shift the others.
#[derive(Resource)]
pub struct ZoneRng {
    pub npc: ZoneStream,
    pub spawn: ZoneStream,
    /// Enemy AI and spawners.
    pub ai: ZoneStream,
}

impl ZoneRng {
    pub fn from_seed(seed: u64) -> Self {
        ZoneRng {
            npc: ZoneStream::new(seed, 1),
            spawn: ZoneStream::new(seed, 2),
            ai: ZoneStream::new(seed, 3),
        }
    }
}

/// One ChaCha8 stream with the few helpers gameplay needs.
pub struct ZoneStream(ChaCha8Rng);

impl ZoneStream {
    fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        ZoneStream(rng)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.0.next_u32() >> 8) as f32 / (1u32 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [0, n); n must be > 0.
    pub fn below(&mut self, n: u32) -> u32 {
        ((u64::from(self.0.next_u32()) * u64::from(n.max(1))) >> 32) as u32
    }
}
