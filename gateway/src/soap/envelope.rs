//! The one streaming pass over a request envelope.
//!
//! It walks every event once with quick-xml's namespace-resolving reader, checks it against the
//! fixed shape of a call, and collects the arguments' character data on the way: nothing else
//! reads the request (a second pass by quick-xml's serde deserializer cost as much again, and
//! that deserializer matches elements by local name and ignores namespaces). Checked:
//!
//! - well-formedness, no DTD (which rules out entity expansion: billion laughs, external
//!   entities), no processing instruction, a UTF-8 XML 1.0 declaration if any;
//! - nesting depth and attributes per element ([`Limits`]), before an element is looked at;
//! - every element's namespace, whatever prefix (or prefixes) the sender bound to it;
//! - `Envelope` in the namespace of the announced SOAP version, an optional `Header` first, then
//!   exactly one `Body`, nothing after it (WS-I BP 1.1 R1011);
//! - header blocks: namespace-qualified, and none addressed to this node with mustUnderstand
//!   except `wsse:Security`, which this service understands (its UsernameToken is collected by
//!   [`super::wsse`] for the authentication layer), and WS-Addressing's (its `MessageID` is
//!   collected by [`super::addressing`]);
//! - at most [`Limits::max_header_blocks`] header blocks;
//! - exactly one Body child, an operation of the service namespace, whose children are exactly
//!   that operation's arguments, in order, each holding text only.
//!
//! An argument's text is what XML says it is: its text and CDATA sections with line ends
//! normalized (XML 1.0, 2.11), its character and predefined entity references resolved, its
//! comments left out; it is borrowed from the request unless one of those changed it.

use std::borrow::Cow;

use quick_xml::events::{BytesDecl, BytesRef, BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::NsReader;

use super::addressing::{self, Addressing, WsaVersion};
use super::fault::{Fault, NotUnderstood};
use super::limits::Limits;
use super::operation::Operation;
use super::version::SoapVersion;
use super::wsse::{Collector, SecNs, WsSecurity, WSSE_NS};
use super::{Rejected, SERVICE_NS};

/// What the pass found in a well-formed call envelope.
pub(crate) struct Scanned<'a> {
    /// The version of the envelope, which the Content-Type announced too.
    pub version: SoapVersion,
    pub operation: Operation,
    /// The character data of each of the operation's argument elements, in schema order.
    pub arguments: Vec<Cow<'a, str>>,
    /// The WS-Security header's UsernameToken, if any.
    pub security: WsSecurity,
    /// The WS-Addressing headers Tessera acts on.
    pub addressing: Addressing,
}

/// Where the pass is in the shape of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before the root element.
    Prolog,
    /// Directly inside Envelope, before Body.
    Envelope { header_seen: bool },
    /// Directly inside Header.
    Header,
    /// Inside a header block that opened at this depth.
    HeaderBlock { depth: usize },
    /// Directly inside Body, before the operation element.
    Body,
    /// Directly inside the operation element; `next` indexes the argument expected next.
    Arguments { operation: Operation, next: usize },
    /// Inside argument number `index`.
    Argument { operation: Operation, index: usize },
    /// Directly inside Body, after the operation element.
    AfterOperation,
    /// Directly inside Envelope, after Body.
    AfterBody,
    /// After the root element.
    Epilog,
}

/// The namespace of an element, as far as the pass cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    None,
    Envelope(SoapVersion),
    Service,
    Other,
}

const NOT_WELL_FORMED: &str = "the request is not well-formed XML";
const SOAP11_NEXT_ACTOR: &str = "http://schemas.xmlsoap.org/soap/actor/next";
const SOAP12_NEXT_ROLE: &str = "http://www.w3.org/2003/05/soap-envelope/role/next";
const SOAP12_ULTIMATE_RECEIVER: &str =
    "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver";

/// Walks the whole envelope once; see the module documentation for what is checked.
pub(crate) fn scan<'a>(
    text: &'a str,
    transport: SoapVersion,
    limits: &Limits,
) -> Result<Scanned<'a>, Rejected> {
    let mut pass = Pass {
        reader: NsReader::from_str(text),
        limits,
        version: transport,
        place: Place::Prolog,
        depth: 0,
        operation: None,
        arguments: Vec::new(),
        header_blocks: 0,
        security: Collector::default(),
        addressing: addressing::Collector::default(),
    };
    let config = pass.reader.config_mut();
    // Keep text exactly as sent (identifiers are not whitespace-collapsed types) and catch
    // `--` inside comments, which is not well-formed.
    config.trim_text(false);
    config.check_comments = true;
    config.check_end_names = true;
    config.expand_empty_elements = false;

    let mut first = true;
    loop {
        let event = pass.reader.read_event();
        let event = match event {
            Ok(event) => event,
            Err(_) => return Err(pass.reject(Fault::Malformed(NOT_WELL_FORMED))),
        };
        let outcome = match event {
            Event::Start(e) => pass.element(&e, false),
            Event::Empty(e) => pass.element(&e, true),
            Event::End(_) => pass.end(),
            Event::Text(t) => {
                if pass.security.active() {
                    pass.security.text(&t);
                }
                if pass.addressing.active() {
                    pass.addressing.text(&t);
                }
                pass.argument_text(|| t.xml10_content());
                pass.text(is_xml_whitespace(&t))
            }
            Event::CData(c) => {
                if pass.security.active() {
                    pass.security.text(&c);
                }
                if pass.addressing.active() {
                    pass.addressing.text(&c);
                }
                pass.argument_text(|| c.xml10_content());
                pass.text(false)
            }
            Event::GeneralRef(r) => pass.reference(&r),
            Event::Comment(_) => Ok(()),
            Event::Decl(d) if first => declaration(&d),
            Event::Decl(_) => Err(Fault::Malformed("the XML declaration must come first")),
            Event::PI(_) => Err(Fault::Malformed("processing instructions are not accepted")),
            Event::DocType(_) => Err(Fault::Malformed(
                "document type declarations are not accepted",
            )),
            Event::Eof => break,
        };
        outcome.map_err(|fault| pass.reject(fault))?;
        first = false;
    }
    match (pass.place, pass.operation) {
        (Place::Epilog, Some(operation)) => Ok(Scanned {
            version: pass.version,
            operation,
            arguments: pass.arguments,
            security: pass.security.finish(),
            addressing: pass.addressing.finish(),
        }),
        _ => Err(Rejected {
            version: pass.version,
            fault: Fault::Malformed("the document ends before the Envelope is closed"),
        }),
    }
}

struct Pass<'a, 'l> {
    reader: NsReader<&'a [u8]>,
    limits: &'l Limits,
    /// The version to answer in: the announced one until the root element says otherwise.
    version: SoapVersion,
    place: Place,
    /// Number of elements open, the current one included.
    depth: usize,
    operation: Option<Operation>,
    /// The arguments' character data so far; the last one is open while `place` is `Argument`.
    arguments: Vec<Cow<'a, str>>,
    header_blocks: usize,
    security: Collector,
    addressing: addressing::Collector,
}

impl<'a> Pass<'a, '_> {
    fn reject(&self, fault: Fault) -> Rejected {
        Rejected {
            version: self.version,
            fault,
        }
    }

    fn namespace(&self, name: QName) -> Result<Ns, Fault> {
        match self.reader.resolver().resolve_element(name).0 {
            ResolveResult::Unbound => Ok(Ns::None),
            ResolveResult::Bound(ns) => {
                let ns = ns.as_ref();
                Ok(if ns == SERVICE_NS {
                    Ns::Service
                } else if let Some(version) = SoapVersion::from_envelope_ns(ns.as_bytes()) {
                    Ns::Envelope(version)
                } else {
                    Ns::Other
                })
            }
            ResolveResult::Unknown(_) => Err(Fault::Malformed(
                "an element uses an undeclared namespace prefix",
            )),
        }
    }

    /// A start tag (or an empty-element tag, which opens and closes at once).
    fn element(&mut self, e: &BytesStart, empty: bool) -> Result<(), Fault> {
        let depth = self.depth + 1;
        if depth > self.limits.max_depth {
            return Err(Fault::LimitExceeded("elements are nested too deeply"));
        }
        let mut attributes = 0;
        for attribute in e.attributes().with_checks(true) {
            if attribute.is_err() {
                return Err(Fault::Malformed(NOT_WELL_FORMED));
            }
            attributes += 1;
            if attributes > self.limits.max_attributes {
                return Err(Fault::LimitExceeded("too many attributes on one element"));
            }
        }
        let ns = self.namespace(e.name())?;
        let local = e.local_name();
        let local = local.as_ref();
        let envelope = Ns::Envelope(self.version);

        let next = match self.place {
            Place::Prolog => {
                let Ns::Envelope(version) = ns else {
                    return Err(Fault::VersionMismatch);
                };
                if local != "Envelope" {
                    return Err(Fault::VersionMismatch);
                }
                // From here on, answer in the version the client's SOAP stack speaks.
                let announced = self.version;
                self.version = version;
                if version != announced {
                    return Err(Fault::VersionMismatch);
                }
                Place::Envelope { header_seen: false }
            }
            Place::Envelope { header_seen } => match local {
                _ if ns != envelope => {
                    return Err(Fault::Malformed(
                        "the Envelope may hold only a Header and a Body",
                    ))
                }
                "Header" if !header_seen => Place::Header,
                "Body" => Place::Body,
                _ => {
                    return Err(Fault::Malformed(
                        "the Envelope may hold only a Header and a Body",
                    ))
                }
            },
            Place::Header => {
                if ns == Ns::None {
                    return Err(Fault::Malformed(
                        "header blocks must be namespace-qualified",
                    ));
                }
                self.header_blocks += 1;
                if self.header_blocks > self.limits.max_header_blocks {
                    return Err(Fault::LimitExceeded("too many header blocks"));
                }
                let (must_understand, addressed_to_us) = self.targeting(e)?;
                let wsa = self.wsa_version(e);
                if addressed_to_us && self.is_wsse_security(e) {
                    self.security.open(depth);
                } else if let (Some(version), true) = (wsa, addressed_to_us) {
                    // Every WS-Addressing header is understood: the ones Tessera acts on are
                    // read, the others (To, Action, RelatesTo) need nothing from a service
                    // that answers on the same connection.
                    self.addressing.header(depth, version, local)?;
                } else if must_understand && addressed_to_us {
                    return Err(self.not_understood(e));
                }
                Place::HeaderBlock { depth }
            }
            Place::HeaderBlock { .. } => {
                let wsa = self.wsa_version(e);
                self.addressing.child(depth, wsa, local)?;
                if self.security.active() {
                    let ns = match self.reader.resolver().resolve_element(e.name()).0 {
                        ResolveResult::Bound(ns) => SecNs::of(ns.as_ref()),
                        _ => SecNs::Other,
                    };
                    let local = e.local_name().as_ref().to_owned();
                    self.security.start(depth, ns, &local, |name| {
                        let value = e.try_get_attribute(name).ok().flatten()?;
                        value
                            .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                            .ok()
                            .map(|v| v.into_owned())
                    });
                }
                self.place
            }
            Place::Body => {
                let operation = (ns == Ns::Service)
                    .then(|| Operation::from_element(local.as_bytes()))
                    .flatten()
                    .ok_or(Fault::UnknownOperation)?;
                self.operation = Some(operation);
                Place::Arguments { operation, next: 0 }
            }
            Place::Arguments { operation, next } => {
                let Some(&expected) = operation.arguments().get(next) else {
                    return Err(Fault::InvalidArgument {
                        field: operation.name(),
                        reason: "unexpected element after the last argument".into(),
                    });
                };
                if local != expected {
                    return Err(Fault::InvalidArgument {
                        field: expected,
                        reason: format!("expected element {expected} here").into(),
                    });
                }
                if ns != Ns::Service {
                    return Err(Fault::InvalidArgument {
                        field: expected,
                        reason: "the element must be in namespace urn:tessera:reservation:v1"
                            .into(),
                    });
                }
                self.arguments.push(Cow::Borrowed(""));
                Place::Argument {
                    operation,
                    index: next,
                }
            }
            Place::Argument { operation, index } => {
                return Err(Fault::InvalidArgument {
                    field: operation.arguments().get(index).copied().unwrap_or(""),
                    reason: "must hold text only, not elements".into(),
                })
            }
            Place::AfterOperation => {
                return Err(Fault::Malformed("the Body must hold exactly one element"))
            }
            Place::AfterBody => {
                return Err(Fault::Malformed("nothing may follow the Body"));
            }
            Place::Epilog => {
                return Err(Fault::Malformed("nothing may follow the Envelope"));
            }
        };

        self.place = next;
        self.depth = depth;
        if empty {
            // Opened and closed at once: run the closing transition right away.
            self.end()?;
        }
        Ok(())
    }

    /// An end tag (the reader has checked that it matches its start tag).
    fn end(&mut self) -> Result<(), Fault> {
        let depth = self.depth;
        self.depth = depth.saturating_sub(1);
        self.place = match self.place {
            Place::Envelope { .. } => {
                return Err(Fault::Malformed("the Envelope has no Body"));
            }
            Place::Header => Place::Envelope { header_seen: true },
            Place::HeaderBlock { depth: opened } if opened == depth => {
                self.security.end(depth);
                self.addressing.end(depth)?;
                Place::Header
            }
            Place::HeaderBlock { .. } => {
                self.security.end(depth);
                self.addressing.end(depth)?;
                self.place
            }
            Place::Body => return Err(Fault::Malformed("the Body is empty")),
            Place::Arguments { operation, next } => {
                if let Some(&missing) = operation.arguments().get(next) {
                    return Err(Fault::InvalidArgument {
                        field: missing,
                        reason: "missing".into(),
                    });
                }
                Place::AfterOperation
            }
            Place::Argument { operation, index } => Place::Arguments {
                operation,
                next: index + 1,
            },
            Place::AfterOperation => Place::AfterBody,
            Place::AfterBody => Place::Epilog,
            // The reader rejects unmatched end tags before we see them.
            Place::Prolog | Place::Epilog => return Err(Fault::Malformed(NOT_WELL_FORMED)),
        };
        Ok(())
    }

    /// Appends a piece of character data to the open argument, if one is open (`piece` is
    /// computed only then).
    fn argument_text(&mut self, piece: impl FnOnce() -> Cow<'a, str>) {
        if !matches!(self.place, Place::Argument { .. }) {
            return;
        }
        if let Some(text) = self.arguments.last_mut() {
            if text.is_empty() {
                *text = piece();
            } else {
                text.to_mut().push_str(&piece());
            }
        }
    }

    /// Character data: content of arguments and header blocks, whitespace elsewhere.
    fn text(&self, whitespace: bool) -> Result<(), Fault> {
        match self.place {
            Place::Argument { .. } | Place::HeaderBlock { .. } => Ok(()),
            _ if whitespace => Ok(()),
            _ => Err(Fault::Malformed("text where only elements may appear")),
        }
    }

    /// `&name;` or `&#n;` in text. Without a DTD only the five predefined entities exist.
    fn reference(&mut self, r: &BytesRef) -> Result<(), Fault> {
        let resolved = match r.resolve_char_ref() {
            Ok(Some(c)) => Some(c),
            Ok(None) => match &**r {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "apos" => Some('\''),
                "quot" => Some('"'),
                _ => None,
            },
            Err(_) => None,
        };
        let Some(c) = resolved else {
            return Err(Fault::Malformed("undefined entity or character reference"));
        };
        if self.security.active() {
            self.security.text(c.encode_utf8(&mut [0; 4]));
        }
        if self.addressing.active() {
            self.addressing.text(c.encode_utf8(&mut [0; 4]));
        }
        self.argument_text(|| Cow::Owned(c.to_string()));
        self.text(false)
    }

    /// Whether a header block is marked mustUnderstand, and whether it is addressed to this
    /// node. SOAP 1.1 addresses a block with `actor`, SOAP 1.2 with `role`; a block without one
    /// is addressed to the ultimate receiver, which we are.
    fn targeting(&self, e: &BytesStart) -> Result<(bool, bool), Fault> {
        let mut must_understand = false;
        let mut addressed_to_us = true;
        for attribute in e.attributes().flatten() {
            let (ns, local) = self.reader.resolver().resolve_attribute(attribute.key);
            let ResolveResult::Bound(ns) = ns else {
                continue;
            };
            if ns.as_ref() != self.version.envelope_ns() {
                continue;
            }
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                .map_err(|_| Fault::Malformed(NOT_WELL_FORMED))?;
            let value = value.trim_matches(is_xml_whitespace_char);
            match (self.version, local.as_ref()) {
                (_, "mustUnderstand") => {
                    must_understand = match value {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        _ => return Err(Fault::Malformed("mustUnderstand must be a boolean")),
                    }
                }
                (SoapVersion::Soap11, "actor") => addressed_to_us = value == SOAP11_NEXT_ACTOR,
                (SoapVersion::Soap12, "role") => {
                    addressed_to_us = value == SOAP12_NEXT_ROLE || value == SOAP12_ULTIMATE_RECEIVER
                }
                _ => {}
            }
        }
        Ok((must_understand, addressed_to_us))
    }

    /// `wsse:Security`: the one header block this service understands, so it never causes a
    /// MustUnderstand fault (authentication decides what to make of it).
    /// The WS-Addressing version of `e`'s namespace, if it is one.
    fn wsa_version(&self, e: &BytesStart) -> Option<WsaVersion> {
        match self.reader.resolver().resolve_element(e.name()).0 {
            ResolveResult::Bound(ns) => WsaVersion::of(ns.as_ref().as_bytes()),
            _ => None,
        }
    }

    fn is_wsse_security(&self, e: &BytesStart) -> bool {
        let (ns, local) = self.reader.resolver().resolve_element(e.name());
        matches!(ns, ResolveResult::Bound(ns) if ns.as_ref() == WSSE_NS)
            && local.as_ref() == "Security"
    }

    /// The MustUnderstand fault for a header block that is not understood.
    fn not_understood(&self, e: &BytesStart) -> Fault {
        let (ns, local) = self.reader.resolver().resolve_element(e.name());
        let namespace = match ns {
            ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
            _ => String::new(),
        };
        Fault::MustUnderstand(NotUnderstood {
            namespace,
            local_name: local.as_ref().to_owned(),
        })
    }
}

/// The XML declaration, if any: XML 1.0 in UTF-8 is all a SOAP request may be (BP 1.1 R4003).
fn declaration(d: &BytesDecl) -> Result<(), Fault> {
    if !d.version().is_ok_and(|v| v == "1.0") {
        return Err(Fault::Malformed("only XML 1.0 is accepted"));
    }
    match d.encoding() {
        None => Ok(()),
        Some(Ok(encoding)) if encoding.eq_ignore_ascii_case("utf-8") => Ok(()),
        Some(_) => Err(Fault::Malformed("only the UTF-8 encoding is accepted")),
    }
}

fn is_xml_whitespace_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_xml_whitespace(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}
