//! What Tessera's tests and benchmarks share, so that each exists once: the seeded random
//! generator every randomized test draws from. A dev-dependency only; nothing in a production
//! binary links it.

pub mod rng;

pub use rng::Rng;
