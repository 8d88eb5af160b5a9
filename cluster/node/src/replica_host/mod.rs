//! A replica runs as a child process of its replica manager and speaks length-prefixed
//! postcard frames on stdin/stdout: requests in, replies out, strictly in order. A crash of
//! the replica (bug, `kill -9`) is then an EOF on a pipe, noticed at once, and can never take
//! the manager down with it.

mod child;
mod frame;
mod process;

pub use child::run as run_child;
pub use frame::MAX_FRAME;
pub use process::{ReplicaProcess, ReplicaSpec, ResponseReader};
