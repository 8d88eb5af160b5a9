//! A small namespace-resolved element tree of a response envelope. Responses are small and
//! come from a peer we do not fully trust, so reading is bounded (depth, element count) and
//! anything beyond plain elements and text (a DTD, an unknown entity) is refused.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

const MAX_DEPTH: usize = 32;
const MAX_ELEMENTS: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The element's namespace; `None` when unqualified.
    pub ns: Option<String>,
    pub name: String,
    /// The element's own character data (children's text not included).
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.name == name
    }

    /// The first child named `name` in namespace `ns` (`None`: unqualified).
    pub fn child(&self, ns: Option<&str>, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.ns.as_deref() == ns && c.name == name)
    }

    pub fn children_named<'a>(
        &'a self,
        ns: Option<&'a str>,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children
            .iter()
            .filter(move |c| c.ns.as_deref() == ns && c.name == name)
    }

    pub fn trimmed(&self) -> &str {
        self.text.trim()
    }
}

/// Parses a whole document into its root element.
pub fn parse(xml: &str) -> Result<Element, String> {
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            Event::Start(start) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err("the response is nested too deeply or too large".into());
                }
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                let ns = match ns {
                    ResolveResult::Bound(ns) => Some(ns.as_ref().to_owned()),
                    ResolveResult::Unbound => None,
                    ResolveResult::Unknown(prefix) => {
                        return Err(format!("undeclared namespace prefix {prefix:?}"))
                    }
                };
                stack.push(Element {
                    ns,
                    name: start.local_name().as_ref().to_owned(),
                    ..Element::default()
                });
            }
            Event::End(_) => {
                let done = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(text) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&data.into_inner());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = reference.xml10_content();
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?
                            .to_owned()
                    }
                    Err(e) => return Err(format!("bad character reference: {e}")),
                };
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&resolved);
                }
            }
            Event::DocType(_) => return Err("a DOCTYPE in a SOAP message".into()),
            Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("truncated: the document ends inside an element".into());
    }
    root.ok_or_else(|| "no root element".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_text_and_entities() {
        let root = parse(
            "<?xml version=\"1.0\"?><a:r xmlns:a=\"urn:a\"><b xmlns=\"urn:b\">x &amp; &#65;<c/></b>\
             <d>plain</d></a:r>",
        )
        .unwrap();
        assert!(root.is("urn:a", "r"));
        let b = root.child(Some("urn:b"), "b").unwrap();
        assert_eq!(b.text, "x & A");
        assert!(b.child(Some("urn:b"), "c").is_some());
        assert_eq!(root.child(None, "d").unwrap().text, "plain");
    }

    #[test]
    fn refusals() {
        assert!(parse("<!DOCTYPE x><x/>").is_err());
        assert!(parse("<x>&ent;</x>").is_err());
        assert!(parse("<x><y></x>").is_err());
        assert!(parse("<x>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<p:x/>").is_err());
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(&deep).is_err());
    }
}
