//! What Tessera's tests, benchmarks and examples share, so that each exists once. A
//! dev-dependency only; nothing in a production binary links it.
//!
//! | module | what |
//! |---|---|
//! | [`rng`] | [`Rng`]: the seeded generator every randomized test draws from |
//! | `local_backend` | `LocalBackend`: the gateway over one in-memory replica, no cluster (feature `local-backend`) |

pub mod rng;

pub use rng::Rng;

#[cfg(feature = "local-backend")]
pub mod local_backend;

#[cfg(feature = "local-backend")]
pub use local_backend::LocalBackend;
