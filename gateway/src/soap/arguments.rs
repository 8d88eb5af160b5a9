//! Turning the raw arguments into a typed request with `Request::from_arguments`, the one
//! parser of every operation's arguments (`docs/domain.md`, step 0): the gateway accepts
//! exactly what the CLI accepts and builds exactly what the replicas execute. A bad value is
//! reported with its element's name and the parser's reason; the value itself is never quoted
//! back.

use tessera_types::{ArgumentError, Request};

use super::fault::Fault;
use super::payload::RawCall;

/// Turns the raw arguments into a request, or the fault for the first bad argument in
/// schema order.
pub(crate) fn validate(call: RawCall) -> Result<Request, Fault> {
    Request::from_arguments(call.operation(), |field| call.argument(field)).map_err(|e| match e {
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
    use super::super::payload::{AdminSlotCapacity, AdminType};
    use super::*;

    fn add(capacity: &str) -> Result<Request, Fault> {
        validate(RawCall::AddReservationSlot(AdminSlotCapacity {
            admin_id: "MTLA0001".into(),
            event_type: "Concerts".into(),
            event_id: "MTLE101226".into(),
            capacity: capacity.into(),
        }))
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
            validate(RawCall::ListReservationSlotAvailable(AdminType {
                admin_id: admin.into(),
                event_type: ty.into(),
            }))
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
