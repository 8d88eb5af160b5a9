//! A WS-Security 1.0 UsernameToken (`--ws-security`): user name, the password as PasswordText
//! (Tessera accepts nothing else: it stores password hashes, never passwords), a fresh random
//! Nonce and the Created time, so that a captured envelope cannot be replayed.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;

pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub const PASSWORD_TEXT: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
pub const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// One token, made fresh for every call.
#[derive(Clone)]
pub struct UsernameToken {
    pub username: String,
    pub password: String,
    pub nonce: String,
    pub created: String,
}

impl std::fmt::Debug for UsernameToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsernameToken")
            .field("username", &self.username)
            .field("password", &"(hidden)")
            .finish_non_exhaustive()
    }
}

impl UsernameToken {
    pub fn new(username: &str, password: &str) -> Self {
        let mut nonce = [0u8; 16];
        // A nonce from a failed RNG would still be unique enough with the time in it, but
        // the system RNG does not fail on Linux; zeros only if it somehow does.
        let _ = getrandom::fill(&mut nonce);
        UsernameToken {
            username: username.to_owned(),
            password: password.to_owned(),
            nonce: base64::engine::general_purpose::STANDARD.encode(nonce),
            created: utc_now(),
        }
    }
}

/// Now as `YYYY-MM-DDThh:mm:ssZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // H. Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_767_261_600), "2026-01-01T10:00:00Z");
        assert_eq!(utc(1_709_164_800 + 3661), "2024-02-29T01:01:01Z");
    }

    #[test]
    fn tokens_are_fresh_and_hide_the_password() {
        let a = UsernameToken::new("alice", "secret");
        let b = UsernameToken::new("alice", "secret");
        assert_ne!(a.nonce, b.nonce);
        assert!(!format!("{a:?}").contains("secret"));
    }
}
