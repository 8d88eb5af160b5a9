//! The two SOAP versions, told apart by media type on the way in and by envelope namespace
//! inside the message.

/// Envelope namespace of SOAP 1.1.
pub const SOAP11_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Envelope namespace of SOAP 1.2.
pub const SOAP12_ENVELOPE_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SoapVersion {
    Soap11,
    Soap12,
}

/// Why a Content-Type cannot carry a SOAP request (answered with HTTP 415).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContentTypeError {
    #[error("expected text/xml (SOAP 1.1) or application/soap+xml (SOAP 1.2)")]
    MediaType,
    #[error("only the utf-8 charset is supported")]
    Charset,
}

impl SoapVersion {
    /// The version a Content-Type header announces: `text/xml` is SOAP 1.1 and
    /// `application/soap+xml` SOAP 1.2, in any letter case, with any parameters (SOAP 1.2's
    /// `action` is ignored, like SOAPAction) except a charset other than UTF-8.
    pub fn from_content_type(value: &str) -> Result<Self, ContentTypeError> {
        let mut parts = value.split(';');
        let media = parts.next().unwrap_or("").trim();
        let version = if media.eq_ignore_ascii_case("text/xml") {
            SoapVersion::Soap11
        } else if media.eq_ignore_ascii_case("application/soap+xml") {
            SoapVersion::Soap12
        } else {
            return Err(ContentTypeError::MediaType);
        };
        for parameter in parts {
            let Some((name, charset)) = parameter.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("charset") {
                let charset = charset.trim().trim_matches('"');
                if !charset.eq_ignore_ascii_case("utf-8") {
                    return Err(ContentTypeError::Charset);
                }
            }
        }
        Ok(version)
    }

    /// The version whose envelope lives in namespace `ns`.
    pub fn from_envelope_ns(ns: &[u8]) -> Option<Self> {
        if ns == SOAP11_ENVELOPE_NS.as_bytes() {
            Some(SoapVersion::Soap11)
        } else if ns == SOAP12_ENVELOPE_NS.as_bytes() {
            Some(SoapVersion::Soap12)
        } else {
            None
        }
    }

    pub fn envelope_ns(self) -> &'static str {
        match self {
            SoapVersion::Soap11 => SOAP11_ENVELOPE_NS,
            SoapVersion::Soap12 => SOAP12_ENVELOPE_NS,
        }
    }

    /// Content-Type of a response in this version.
    pub fn content_type(self) -> &'static str {
        match self {
            SoapVersion::Soap11 => "text/xml; charset=utf-8",
            SoapVersion::Soap12 => "application/soap+xml; charset=utf-8",
        }
    }

    /// Prefix used for the envelope namespace in responses: `soap:` for 1.1 and `env:` for
    /// 1.2, the prefixes of the two specifications' own examples.
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            SoapVersion::Soap11 => "soap",
            SoapVersion::Soap12 => "env",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        use SoapVersion::*;
        for (value, expected) in [
            ("text/xml", Ok(Soap11)),
            ("text/xml; charset=utf-8", Ok(Soap11)),
            ("Text/XML;charset=\"UTF-8\"", Ok(Soap11)),
            ("application/soap+xml", Ok(Soap12)),
            (
                "application/soap+xml; charset=utf-8; action=\"urn:x#y\"",
                Ok(Soap12),
            ),
            ("application/soap+xml;action=anything", Ok(Soap12)),
            ("application/xml", Err(ContentTypeError::MediaType)),
            ("text/plain", Err(ContentTypeError::MediaType)),
            ("", Err(ContentTypeError::MediaType)),
            (
                "multipart/related; type=\"application/xop+xml\"",
                Err(ContentTypeError::MediaType),
            ),
            (
                "text/xml; charset=iso-8859-1",
                Err(ContentTypeError::Charset),
            ),
        ] {
            assert_eq!(SoapVersion::from_content_type(value), expected, "{value}");
        }
    }
}
