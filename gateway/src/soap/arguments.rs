//! Turning the argument texts the envelope pass collected into a typed request with
//! `Request::from_arguments`, the one parser of every operation's arguments (`docs/domain.md`,
//! step 0): the gateway accepts exactly what the CLI accepts and builds exactly what the
//! replicas execute. A bad value is reported with its element's name and the parser's reason;
//! the value itself is never quoted back.

use std::borrow::Cow;

use tessera_types::{ArgumentError, Request};

use super::fault::Fault;
use super::operation::Operation;

/// Turns `texts`, the character data of `operation`'s argument elements in schema order, into
/// a request, or the fault for the first bad argument in that order.
pub(crate) fn validate(operation: Operation, texts: &[Cow<'_, str>]) -> Result<Request, Fault> {
    let names = operation.arguments();
    let text = |field: &str| {
        let i = names.iter().position(|name| *name == field)?;
        texts.get(i).map(|t| &**t)
    };
    Request::from_arguments(operation.name(), text).map_err(|e| match e {
        ArgumentError::Invalid { field, reason } => Fault::InvalidArgument {
            field,
            reason: reason.to_string().into(),
        },
        // The envelope pass checked the shape: every argument is there, under a known
        // operation.
        ArgumentError::Missing { .. } | ArgumentError::UnknownOperation(_) => {
            Fault::Malformed("the arguments do not match the operation")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(capacity: &str) -> Result<Request, Fault> {
        validate(
            Operation::AddReservationSlot,
            &["MTLA0001", "Concerts", "MTLE101226", capacity].map(Cow::from),
        )
    }

    #[test]
    fn capacity_is_an_xs_int_in_range() {
        assert!(add("10").is_ok());
        assert!(add(" +0100000\n").is_ok());
        for bad in [
            "",
            " ",
            "0",
            "-1",
            "100001",
            "1.0",
            "1e3",
            "0x10",
            "2147483648",
            "١",
        ] {
            assert!(
                matches!(
                    add(bad),
                    Err(Fault::InvalidArgument {
                        field: "capacity",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn identifiers_are_not_trimmed() {
        let list = |admin: &str, ty: &str| {
            validate(
                Operation::ListReservationSlotAvailable,
                &[admin, ty].map(Cow::from),
            )
        };
        assert!(list("MTLA0001", "Concerts").is_ok());
        assert!(matches!(
            list(" MTLA0001", "Concerts"),
            Err(Fault::InvalidArgument {
                field: "adminID",
                ..
            })
        ));
        assert!(matches!(
            list("MTLA0001", "Concerts "),
            Err(Fault::InvalidArgument {
                field: "eventType",
                ..
            })
        ));
    }
}
