//! Bounds on what one request may make the parser do. Everything the envelope pass keeps grows
//! with depth or attribute count, never with input beyond that, so these bound its memory.

/// Limits applied to every request before anything else reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Deepest element nesting accepted. A call needs 4 (Envelope, Body, operation, argument);
    /// header blocks such as WS-Security's need a few more.
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Most header blocks (children of the SOAP Header). WS-Security and WS-Addressing
    /// together need fewer than ten.
    pub max_header_blocks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            max_depth: 32,
            max_attributes: 32,
            max_header_blocks: 32,
        }
    }
}
