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
    /// Creatures' wandering and behaviour.
    pub creatures: ZoneStream,
    /// The zone's seed, which keys the per-event streams ([`ZoneStream::keyed`]).
    pub seed: u64,
}

impl ZoneRng {
    pub fn from_seed(seed: u64) -> Self {
        ZoneRng {
            creatures: ZoneStream::new(seed, 4),
            seed,
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

    /// A counter-based stream for one event: its key is (zone seed, subject — a cell
    /// or a player —, tick, event kind), so what one event draws depends on nothing
    /// else that happened, and the same seed and inputs give the same draws.
    pub fn keyed(seed: u64, subject: u64, tick: u64, kind: u64) -> Self {
        let mut key = [0u8; 32];
        for (i, v) in [seed, subject, tick, kind].into_iter().enumerate() {
            key[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        ZoneStream(ChaCha8Rng::from_seed(key))
    }

    /// How many words the stream has drawn (its position, for the state hash).
    pub fn position(&self) -> u128 {
        self.0.get_word_pos()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
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

#[cfg(test)]
mod tests {
    use super::ZoneStream;

    #[test]
    fn keyed_streams_depend_on_every_part_of_the_key_and_nothing_else() {
        let draw = |s: &mut ZoneStream| (0..4).map(|_| s.below(1 << 30)).collect::<Vec<_>>();
        let a = draw(&mut ZoneStream::keyed(7, 3, 100, 1));
        assert_eq!(a, draw(&mut ZoneStream::keyed(7, 3, 100, 1)));
        for other in [
            (8, 3, 100, 1),
            (7, 4, 100, 1),
            (7, 3, 101, 1),
            (7, 3, 100, 2),
        ] {
            let b = draw(&mut ZoneStream::keyed(other.0, other.1, other.2, other.3));
            assert_ne!(a, b, "{other:?}");
        }
    }
}
