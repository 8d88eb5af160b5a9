//! Tessera's SOAP gateway: the one door through which users reach the cluster.
//!
//! The path of a call, and the module that handles each step:
//!
//! 1. [`server`]: HTTP. Method, path and content type, overload shedding, body size and
//!    deadline, request ids and logs. Nothing XML happens here.
//! 2. [`soap`]: IO-free SOAP. One streaming, namespace-checking pass over the envelope
//!    ([`soap::parse_call`]) gives a validated [`tessera_types::Request`] or a fault; the
//!    writers turn a [`tessera_types::Reply`] or a fault into response bytes.
//! 3. [`server::Backend`]: whatever orders and executes the request (the cluster's front end in
//!    production; `tessera_testkit::LocalBackend`, one in-memory replica, in tests and
//!    benchmarks, which keeps every replica crate out of this one).
//!
//! [`auth`] decides who is calling (HTTP Basic or a WS-Security UsernameToken against the
//! user file) and whether they may act as the ID in the body.
//!
//! [`metrics`] counts calls, faults, responses and connections for `GET /metrics`;
//! [`periodic`] turns them into the dashboard's chart and a log summary; [`dashboard`] is the
//! live page.
//!
//! [`wsdl`] renders the published contract (`wsdl/` at the repository root) for `GET ?wsdl`.

pub mod auth;
pub mod dashboard;
pub mod metrics;
pub mod periodic;
pub mod server;
pub mod soap;
pub mod wsdl;

pub use server::{metrics_router, router, serve, Answer, Backend, BackendError, Config};
pub use soap::{Limits, SoapVersion};
