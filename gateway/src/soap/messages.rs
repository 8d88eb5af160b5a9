//! The human text of each result code, sent as `message`. A pure function of the code, so
//! responses stay deterministic and equal replies give byte-identical envelopes.

use tessera_types::Code;

/// The message sent with `code`.
pub fn message(code: Code) -> &'static str {
    match code {
        Code::Created => "Reservation slot created",
        Code::Updated => "Reservation slot capacity updated",
        Code::CapacityBelowBooked => "Capacity is below the number of tickets already reserved",
        Code::Removed => "Reservation slot removed",
        Code::NoSuchSlot => "No such reservation slot",
        Code::Ok => "OK",
        Code::NotAuthorized => "Not authorized for this operation",
        Code::Reserved => "Reservation confirmed",
        Code::AlreadyReserved => "The participant already holds this reservation",
        Code::SlotFull => "The reservation slot is full",
        Code::TimeConflict => "The participant already holds a reservation at the same time",
        Code::OtherCityLimit => {
            "The participant already holds 3 reservations in other cities that week"
        }
        Code::Cancelled => "Reservation cancelled",
        Code::NotReserved => "The participant holds no such reservation",
        Code::Exchanged => "Reservation exchanged",
        Code::InvalidArgument => "Invalid argument",
        Code::MessageIdReused => "The wsa:MessageID was used before for a different request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_message() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(message(code)), "{code}");
        }
    }
}
