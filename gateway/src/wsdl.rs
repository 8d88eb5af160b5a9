//! The published contract: `wsdl/reservation.wsdl` and the schema it imports,
//! `wsdl/reservation.xsd`, as `GET /ws/reservation?wsdl` serves them.
//!
//! The files stay the reference (tools that read them from disk resolve the relative import);
//! the served copy has the schema inlined, so a client needs one fetch and no tool has to
//! resolve an import against a `?wsdl` URL, and both port addresses set to the configured
//! public URL, which is what generated clients will call.

use crate::soap::xml_attribute;

/// The WSDL as checked in.
pub const WSDL_SOURCE: &str = include_str!("../../wsdl/reservation.wsdl");
/// The schema as checked in.
pub const XSD_SOURCE: &str = include_str!("../../wsdl/reservation.xsd");

/// The address both ports carry in the checked-in WSDL.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080/ws/reservation";

/// The schema block of the checked-in WSDL that the served copy replaces with the schema.
const IMPORT_BLOCK: &str = "    <xsd:schema>\n      <xsd:import namespace=\"urn:tessera:reservation:v1\" schemaLocation=\"reservation.xsd\"/>\n    </xsd:schema>\n";

/// The WSDL to serve: schema inlined, addresses set to `public_url`.
pub fn render(public_url: &str) -> String {
    // The schema document without its XML declaration, which may only start a document.
    let schema = match XSD_SOURCE.split_once("?>") {
        Some((_, rest)) => rest.trim_start(),
        None => XSD_SOURCE,
    };
    let address = xml_attribute(public_url);
    WSDL_SOURCE.replacen(IMPORT_BLOCK, schema, 1).replace(
        &format!("location=\"{DEFAULT_PUBLIC_URL}\""),
        &format!("location=\"{address}\""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_copy_is_self_contained_and_addressed() {
        assert!(
            WSDL_SOURCE.contains(IMPORT_BLOCK),
            "the WSDL's import block changed"
        );
        let served = render("https://tickets.example:8443/ws/reservation?a=1&b=2");
        assert!(!served.contains("schemaLocation"));
        assert!(served.contains("<xsd:simpleType name=\"UserID\">"));
        assert!(!served.contains(DEFAULT_PUBLIC_URL));
        assert_eq!(
            served
                .matches("location=\"https://tickets.example:8443/ws/reservation?a=1&amp;b=2\"")
                .count(),
            2
        );
        assert_eq!(served.matches("<?xml").count(), 1);
    }
}
