//! What Tessera's tests, benchmarks and examples share, so that each exists once. A
//! dev-dependency only; nothing in a production binary links it.
//!
//! | module | what |
//! |---|---|
//! | [`python`](mod@python) | [`python()`](fn@python): the interpreter with the interop tools (zeep, lxml), set up on first use |
//! | [`rng`] | [`Rng`]: the seeded generator every randomized test draws from |
//! | [`programs`] | [`installed`]: a system program the suites drive, if it is installed |
//! | `cluster` | `LocalCluster`: real `tesserad` processes on loopback, from a `Config` (feature `cluster`) |
//! | `soap_client` | `SoapClient`: the minimal keep-alive SOAP load client, plain or TLS (feature `soap-client`) |
//! | `local_backend` | `LocalBackend`: the gateway over one in-memory replica, no cluster (feature `local-backend`) |

pub mod programs;
pub mod python;
pub mod rng;

pub use programs::installed;
pub use python::python;
pub use rng::Rng;

#[cfg(feature = "cluster")]
pub mod cluster;
#[cfg(feature = "local-backend")]
pub mod local_backend;
#[cfg(feature = "soap-client")]
pub mod soap_client;

#[cfg(feature = "local-backend")]
pub use local_backend::LocalBackend;
