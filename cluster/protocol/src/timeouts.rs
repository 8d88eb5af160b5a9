use std::time::Duration;

/// Protocol timers; see the table in `docs/protocol.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub heartbeat: Duration,
    pub ack: Duration,
    pub nack: Duration,
    pub retransmit: Duration,
    pub submit_retransmit: Duration,
    pub reask: Duration,
    pub request_timeout: Duration,
    pub linger_floor: Duration,
    pub linger_cap: Duration,
    pub liveness: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let ms = Duration::from_millis;
        Timeouts {
            heartbeat: ms(20),
            ack: ms(5),
            nack: ms(20),
            retransmit: ms(50),
            submit_retransmit: ms(30),
            reask: ms(40),
            request_timeout: ms(5000),
            linger_floor: ms(20),
            linger_cap: ms(2000),
            liveness: ms(2000),
        }
    }
}
