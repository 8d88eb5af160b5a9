//! Client requests for the simulation: a small universe of cities, events and participants,
//! so that requests contend for the same slots and the replies depend on the order in which
//! they were applied (a misordered or duplicated request shows up in the answers and digests).

use tessera_types::{Capacity, EventId, EventType, Request, UserId};

use super::Rng;

const CITIES: [&str; 3] = ["MTL", "TOR", "VAN"];
const SLOTS: [&str; 3] = ["M", "A", "E"];
/// Monday 5 and Tuesday 6 January 2026: one week, so the other-city limit comes into play.
const DATES: [&str; 2] = ["050126", "060126"];

pub struct Workload {
    rng: Rng,
}

impl Workload {
    pub fn new(rng: Rng) -> Self {
        Workload { rng }
    }

    fn city(&mut self) -> &'static str {
        CITIES[self.rng.below(CITIES.len() as u64) as usize]
    }

    fn event_type(&mut self) -> EventType {
        *self.rng.pick(&EventType::ALL)
    }

    fn event_in(&mut self, city: &str) -> EventId {
        let slot = *self.rng.pick(&SLOTS);
        let date = *self.rng.pick(&DATES);
        EventId::parse(&format!("{city}{slot}{date}")).expect("a well-formed event")
    }

    fn event(&mut self) -> EventId {
        let city = self.city();
        self.event_in(city)
    }

    fn admin_for(&mut self, city: &str) -> UserId {
        // Mostly the event's own city; sometimes another, which must be NOT_AUTHORIZED.
        let city = if self.rng.chance(0.9) {
            city
        } else {
            self.city()
        };
        admin(city)
    }

    fn participant(&mut self) -> UserId {
        let city = self.city();
        UserId::parse(&format!("{city}P{:04}", self.rng.range(1, 5))).expect("a participant")
    }

    pub fn next_request(&mut self) -> Request {
        match self.rng.below(100) {
            0..=24 => {
                let city = self.city();
                Request::AddReservationSlot {
                    admin_id: self.admin_for(city),
                    event_type: self.event_type(),
                    event_id: self.event_in(city),
                    capacity: Capacity::new(self.rng.range(1, 3) as i32).expect("1..=3"),
                }
            }
            25..=29 => {
                let city = self.city();
                Request::RemoveReservationSlot {
                    admin_id: self.admin_for(city),
                    event_type: self.event_type(),
                    event_id: self.event_in(city),
                }
            }
            30..=34 => {
                let city = self.city();
                Request::ListReservationSlotAvailable {
                    admin_id: admin(city),
                    event_type: self.event_type(),
                }
            }
            35..=69 => Request::ReserveTicket {
                participant_id: self.participant(),
                event_type: self.event_type(),
                event_id: self.event(),
            },
            70..=77 => Request::GetEventSchedule {
                participant_id: self.participant(),
            },
            78..=89 => Request::CancelTicket {
                participant_id: self.participant(),
                event_type: self.event_type(),
                event_id: self.event(),
            },
            _ => Request::ExchangeTicket {
                participant_id: self.participant(),
                event_type: self.event_type(),
                event_id: self.event(),
                new_event_type: self.event_type(),
                new_event_id: self.event(),
            },
        }
    }
}

fn admin(city: &str) -> UserId {
    UserId::parse(&format!("{city}A0001")).expect("an admin")
}
