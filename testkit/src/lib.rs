//! Helpers for Tessera's tests, benchmarks and examples; a dev-dependency only, never part of
//! a production build.
//!
//! | module | what |
//! |---|---|
//! | [`local_backend`] | [`LocalBackend`]: the gateway over one in-memory replica, no cluster |

pub mod local_backend;

pub use local_backend::LocalBackend;
