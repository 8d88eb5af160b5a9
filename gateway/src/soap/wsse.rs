//! The WS-Security 1.0 `wsse:Security` header as far as this service reads it: one
//! `wsse:UsernameToken` (Username, Password with its Type, Nonce, wsu:Created). Everything
//! else in the header (wsu:Timestamp, signatures, other tokens) is skipped.
//!
//! The envelope pass feeds this collector the events inside a `Security` block addressed to
//! this node; it never fails the call. A token it cannot use is reported as
//! [`WsSecurity::Unusable`] and the authentication layer decides: with authentication off the
//! whole header is ignored, as it must be for clients that always send one.

use std::fmt;

/// Namespace of `wsse:Security`, `UsernameToken`, `Username`, `Password`, `Nonce`.
pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// Namespace of `wsu:Created`.
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PASSWORD_TEXT: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
const PASSWORD_DIGEST: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// What the request's WS-Security header offered.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum WsSecurity {
    /// No `wsse:Security` header addressed to us, or one without a UsernameToken.
    #[default]
    Absent,
    Token(UsernameToken),
    /// A token this service cannot check; the text says why (never quotes the request).
    Unusable(&'static str),
}

/// A UsernameToken with a password.
#[derive(Clone, PartialEq, Eq)]
pub struct UsernameToken {
    pub username: String,
    pub password: String,
    pub kind: PasswordKind,
    /// The `wsse:Nonce` as sent (base64 text), if any.
    pub nonce: Option<String>,
    /// The `wsu:Created` as sent, if any.
    pub created: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordKind {
    Text,
    Digest,
}

// Passwords must never reach a log line, not even through `{:?}`.
impl fmt::Debug for UsernameToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsernameToken")
            .field("username", &self.username)
            .field("password", &"(hidden)")
            .field("kind", &self.kind)
            .field("nonce", &self.nonce)
            .field("created", &self.created)
            .finish()
    }
}

impl fmt::Debug for WsSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsSecurity::Absent => f.write_str("Absent"),
            WsSecurity::Token(t) => t.fmt(f),
            WsSecurity::Unusable(why) => write!(f, "Unusable({why:?})"),
        }
    }
}

/// An element's namespace, as far as this header cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecNs {
    Wsse,
    Wsu,
    Other,
}

impl SecNs {
    pub(crate) fn of(ns: &str) -> SecNs {
        match ns {
            WSSE_NS => SecNs::Wsse,
            WSU_NS => SecNs::Wsu,
            _ => SecNs::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Username,
    Password,
    Nonce,
    Created,
}

/// Collects one `wsse:Security` block. Depths are absolute element depths of the envelope.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    /// Depth of the open `Security` element, while inside one.
    security: Option<usize>,
    /// Security blocks addressed to us seen so far.
    blocks: usize,
    /// UsernameTokens seen in them.
    tokens: usize,
    /// Depth of the open UsernameToken.
    token: Option<usize>,
    /// The field element open directly inside the token, and its depth.
    field: Option<(Field, usize)>,
    /// An element inside a field (fields hold text only).
    nested: bool,
    username: Option<String>,
    password: Option<String>,
    kind: Option<Result<PasswordKind, &'static str>>,
    nonce: Option<String>,
    nonce_encoding_ok: bool,
    created: Option<String>,
    repeated: bool,
}

impl Collector {
    /// Whether the pass is inside a Security block (and should feed it events).
    pub(crate) fn active(&self) -> bool {
        self.security.is_some()
    }

    /// A `wsse:Security` block addressed to us opens at `depth`.
    pub(crate) fn open(&mut self, depth: usize) {
        self.security = Some(depth);
        self.blocks += 1;
    }

    /// An element opens at `depth` inside the Security block. `attribute` reads one of its
    /// unqualified attributes by name.
    pub(crate) fn start(
        &mut self,
        depth: usize,
        ns: SecNs,
        local: &str,
        attribute: impl Fn(&str) -> Option<String>,
    ) {
        let Some(security) = self.security else {
            return;
        };
        if self.field.is_some() {
            self.nested = true;
            return;
        }
        match self.token {
            None if depth == security + 1 && ns == SecNs::Wsse && local == "UsernameToken" => {
                self.tokens += 1;
                self.token = Some(depth);
            }
            Some(token) if depth == token + 1 => {
                let field = match (ns, local) {
                    (SecNs::Wsse, "Username") => Field::Username,
                    (SecNs::Wsse, "Password") => Field::Password,
                    (SecNs::Wsse, "Nonce") => Field::Nonce,
                    // Created is wsu:Created; a few old stacks put it in the wsse namespace.
                    (SecNs::Wsu | SecNs::Wsse, "Created") => Field::Created,
                    _ => return,
                };
                let slot = match field {
                    Field::Username => &mut self.username,
                    Field::Password => &mut self.password,
                    Field::Nonce => &mut self.nonce,
                    Field::Created => &mut self.created,
                };
                if slot.is_some() {
                    self.repeated = true;
                }
                *slot = Some(String::new());
                match field {
                    Field::Password => {
                        self.kind = Some(match attribute("Type").as_deref().map(str::trim) {
                            None | Some(PASSWORD_TEXT) => Ok(PasswordKind::Text),
                            Some(PASSWORD_DIGEST) => Ok(PasswordKind::Digest),
                            Some(_) => Err("the UsernameToken's Password has an unknown Type"),
                        })
                    }
                    Field::Nonce => {
                        self.nonce_encoding_ok = matches!(
                            attribute("EncodingType").as_deref().map(str::trim),
                            None | Some(BASE64_BINARY)
                        )
                    }
                    _ => {}
                }
                self.field = Some((field, depth));
            }
            _ => {}
        }
    }

    /// Character data (entity and character references already resolved).
    pub(crate) fn text(&mut self, text: &str) {
        let Some((field, _)) = self.field else {
            return;
        };
        let slot = match field {
            Field::Username => &mut self.username,
            Field::Password => &mut self.password,
            Field::Nonce => &mut self.nonce,
            Field::Created => &mut self.created,
        };
        if let Some(value) = slot {
            value.push_str(text);
        }
    }

    /// The element open at `depth` closes.
    pub(crate) fn end(&mut self, depth: usize) {
        if self.field.is_some_and(|(_, d)| d == depth) {
            self.field = None;
        } else if self.token == Some(depth) {
            self.token = None;
        } else if self.security == Some(depth) {
            self.security = None;
        }
    }

    /// What the header offered, once the envelope has been read.
    pub(crate) fn finish(self) -> WsSecurity {
        if self.blocks == 0 || self.tokens == 0 {
            return WsSecurity::Absent;
        }
        if self.blocks > 1 {
            return WsSecurity::Unusable("more than one wsse:Security header is addressed to us");
        }
        if self.tokens > 1 {
            return WsSecurity::Unusable(
                "the wsse:Security header holds more than one UsernameToken",
            );
        }
        if self.nested || self.repeated {
            return WsSecurity::Unusable("the UsernameToken is not in the form of the profile");
        }
        let Some(username) = self.username else {
            return WsSecurity::Unusable("the UsernameToken has no Username");
        };
        let Some(password) = self.password else {
            return WsSecurity::Unusable("the UsernameToken has no Password");
        };
        let kind = match self.kind {
            Some(Ok(kind)) => kind,
            Some(Err(why)) => return WsSecurity::Unusable(why),
            None => PasswordKind::Text,
        };
        if self.nonce.is_some() && !self.nonce_encoding_ok {
            return WsSecurity::Unusable("the UsernameToken's Nonce must be Base64Binary");
        }
        let trim = |s: String| s.trim_matches([' ', '\t', '\r', '\n']).to_owned();
        WsSecurity::Token(UsernameToken {
            // Pretty-printing clients indent element content; a name has no spaces.
            username: trim(username),
            password,
            kind,
            nonce: self.nonce.map(trim),
            created: self.created.map(trim),
        })
    }
}
