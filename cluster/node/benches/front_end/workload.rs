//! The request mix and the targets it is sent to (the front end, the baseline, SOAP, the
//! HTTP floor).

use super::*;

#[derive(Clone)]
pub(crate) enum Target {
    Replicated(FrontEndClient),
    Unreplicated(BaselineClient),
    Soap(SoapClient),
    /// `GET /health` instead of the request: the HTTP floor. Answers with a stand-in `Ok`
    /// reply, which changes no holdings of the workload.
    HttpFloor(SoapClient),
}

impl Target {
    pub(crate) async fn submit(&self, request: &Request) -> Result<Reply, String> {
        let fut = async {
            match self {
                Target::Replicated(fe) => fe
                    .submit(request)
                    .await
                    .map(|a| a.reply)
                    .map_err(|e| e.to_string()),
                Target::Unreplicated(b) => b.submit(request).await,
                Target::Soap(c) => c.submit(request).await.map_err(|e| e.to_string()),
                Target::HttpFloor(c) => c
                    .health()
                    .await
                    .map(|()| Reply::code(Code::Ok))
                    .map_err(|e| e.to_string()),
            }
        };
        match tokio::time::timeout(SUBMIT_CAP, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {SUBMIT_CAP:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotRef(usize);

pub(crate) struct Workload {
    /// (event type, event id) of every slot.
    pub(crate) slots: Vec<(EventType, EventId)>,
    pub(crate) participants: Vec<UserId>,
    /// The admin of each city, in `CITIES` order.
    pub(crate) admins: Vec<UserId>,
    /// What each participant holds, as far as this workload's replies say; lets cancel and
    /// exchange aim at real reservations, so that most writes change state.
    pub(crate) holdings: Mutex<Vec<Vec<SlotRef>>>,
}

/// What a request does to `holdings` if it succeeds.
pub(crate) enum Effect {
    None,
    Hold(usize, SlotRef),
    Release(usize, SlotRef),
    Move(usize, SlotRef, SlotRef),
}

impl Workload {
    pub(crate) fn new() -> anyhow::Result<Workload> {
        let mut slots = Vec::new();
        for ty in EventType::ALL {
            for city in CITIES {
                for time in TIMES {
                    for day in 1..=DAYS {
                        slots.push((ty, EventId::parse(&format!("{city}{time}{day:02}1226"))?));
                    }
                }
            }
        }
        let mut participants = Vec::new();
        for c in CITIES {
            for i in 1..=PARTICIPANTS_PER_CITY {
                participants.push(UserId::parse(&format!("{c}P{i:04}"))?);
            }
        }
        let admins = CITIES
            .iter()
            .map(|c| UserId::parse(&format!("{c}A0001")))
            .collect::<Result<_, _>>()?;
        let holdings = Mutex::new(vec![Vec::new(); participants.len()]);
        Ok(Workload {
            slots,
            participants,
            admins,
            holdings,
        })
    }

    pub(crate) fn setup_requests(&self) -> anyhow::Result<Vec<Request>> {
        let capacity = Capacity::new(CAPACITY)?;
        self.slots
            .iter()
            .map(|(ty, id)| {
                let admin = self.admins.iter().find(|a| a.city() == id.city());
                Ok(Request::AddReservationSlot {
                    admin_id: *admin.context("no admin of the event's city")?,
                    event_type: *ty,
                    event_id: *id,
                    capacity,
                })
            })
            .collect()
    }

    /// Reserve 40%, cancel 25%, exchange 15% (cancel and exchange aim at a held slot when
    /// there is one), schedule 10%, list 10%: 80% writes.
    pub(crate) fn next(&self, rng: &mut Rng) -> (Request, Effect) {
        let r = rng.next_u64();
        let p = (r % self.participants.len() as u64) as usize;
        let participant = self.participants[p];
        let any_slot = SlotRef(((r >> 16) % self.slots.len() as u64) as usize);
        let held = {
            let h = self
                .holdings
                .lock()
                .map(|h| h[p].clone())
                .unwrap_or_default();
            (!h.is_empty()).then(|| h[((r >> 40) % h.len() as u64) as usize])
        };
        let slot = |s: SlotRef| self.slots[s.0];
        let reserve = |s: SlotRef| {
            let (event_type, event_id) = slot(s);
            (
                Request::ReserveTicket {
                    participant_id: participant,
                    event_type,
                    event_id,
                },
                Effect::Hold(p, s),
            )
        };
        match (r >> 32) % 100 {
            0..40 => reserve(any_slot),
            40..65 => match held {
                Some(h) => {
                    let (event_type, event_id) = slot(h);
                    (
                        Request::CancelTicket {
                            participant_id: participant,
                            event_type,
                            event_id,
                        },
                        Effect::Release(p, h),
                    )
                }
                None => reserve(any_slot),
            },
            65..80 => match held {
                Some(h) => {
                    let (event_type, event_id) = slot(h);
                    let (new_event_type, new_event_id) = slot(any_slot);
                    (
                        Request::ExchangeTicket {
                            participant_id: participant,
                            event_type,
                            event_id,
                            new_event_type,
                            new_event_id,
                        },
                        Effect::Move(p, h, any_slot),
                    )
                }
                None => reserve(any_slot),
            },
            80..90 => (
                Request::GetEventSchedule {
                    participant_id: participant,
                },
                Effect::None,
            ),
            _ => (
                Request::ListReservationSlotAvailable {
                    admin_id: self.admins[((r >> 24) % 3) as usize],
                    event_type: EventType::ALL[((r >> 28) % 3) as usize],
                },
                Effect::None,
            ),
        }
    }

    pub(crate) fn apply(&self, effect: Effect, reply: &Reply) {
        let Ok(mut h) = self.holdings.lock() else {
            return;
        };
        match (effect, reply.code) {
            (Effect::Hold(p, s), Code::Reserved) => h[p].push(s),
            (Effect::Release(p, s), Code::Cancelled) => h[p].retain(|x| *x != s),
            // Not held after all (another submitter's cancel raced this one): forget it.
            (Effect::Release(p, s), Code::NotReserved) => h[p].retain(|x| *x != s),
            (Effect::Move(p, old, new), Code::Exchanged) => {
                h[p].retain(|x| *x != old);
                h[p].push(new);
            }
            (Effect::Move(p, old, _), Code::NotReserved) => h[p].retain(|x| *x != old),
            _ => {}
        }
    }
}
