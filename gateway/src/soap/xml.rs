//! Appending XML to a byte buffer: escaping and the envelope frame shared by responses and
//! faults. No tree, no intermediate strings.

use super::version::SoapVersion;

/// Appends `text` as character data. `>` is escaped too so that `]]>` can never appear.
pub(crate) fn push_text(out: &mut Vec<u8>, text: &str) {
    push_escaped(out, text, false);
}

/// Appends `value` for use inside a double-quoted attribute.
pub(crate) fn push_attribute(out: &mut Vec<u8>, value: &str) {
    push_escaped(out, value, true);
}

fn push_escaped(out: &mut Vec<u8>, text: &str, attribute: bool) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' if attribute => b"&quot;",
            // Attribute-value normalisation would turn these into spaces; keep them.
            b'\t' if attribute => b"&#9;",
            b'\n' if attribute => b"&#10;",
            // A literal CR is normalised away by every XML parser; keep it as a reference.
            b'\r' => b"&#13;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends a decimal number.
pub(crate) fn push_number(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `<name>text</name>` for an element whose name and text need no escaping: names
/// are this crate's literals, and the texts (codes, identifiers) are ASCII the shared
/// parsers accepted.
pub(crate) fn push_simple(out: &mut Vec<u8>, name: &str, text: &str) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
    push_text(out, text);
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// Starts an envelope up to and including the opening tag of its Header (`with_header`) or
/// its Body.
pub(crate) fn open_envelope(out: &mut Vec<u8>, version: SoapVersion, with_header: bool) {
    let p = version.prefix();
    out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><");
    out.extend_from_slice(p.as_bytes());
    out.extend_from_slice(b":Envelope xmlns:");
    out.extend_from_slice(p.as_bytes());
    out.extend_from_slice(b"=\"");
    out.extend_from_slice(version.envelope_ns().as_bytes());
    out.extend_from_slice(b"\"><");
    out.extend_from_slice(p.as_bytes());
    out.extend_from_slice(if with_header { b":Header>" } else { b":Body>" });
}

/// Closes a Header opened by [`open_envelope`] and opens the Body.
pub(crate) fn header_to_body(out: &mut Vec<u8>, version: SoapVersion) {
    let p = version.prefix().as_bytes();
    out.extend_from_slice(b"</");
    out.extend_from_slice(p);
    out.extend_from_slice(b":Header><");
    out.extend_from_slice(p);
    out.extend_from_slice(b":Body>");
}

/// Closes the Body and the envelope.
pub(crate) fn close_envelope(out: &mut Vec<u8>, version: SoapVersion) {
    let p = version.prefix().as_bytes();
    out.extend_from_slice(b"</");
    out.extend_from_slice(p);
    out.extend_from_slice(b":Body></");
    out.extend_from_slice(p);
    out.extend_from_slice(b":Envelope>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        push_text(&mut out, "a<b & c>d \"q\" ]]> \r\n\t");
        assert_eq!(out, b"a&lt;b &amp; c&gt;d \"q\" ]]&gt; &#13;\n\t");
        out.clear();
        push_attribute(&mut out, "a\"b<\n\t&");
        assert_eq!(out, b"a&quot;b&lt;&#10;&#9;&amp;");
        out.clear();
        push_text(&mut out, "plain");
        assert_eq!(out, b"plain");
    }
}
