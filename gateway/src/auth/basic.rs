//! HTTP Basic credentials (RFC 7617) from an `Authorization` header value.

use base64::Engine;

/// A user name and password from a Basic header.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .field("password", &"(hidden)")
            .finish()
    }
}

/// `Ok(None)` when the header is absent or another scheme (e.g. Bearer, which this service
/// does not use); `Err` with a reason when it claims to be Basic but cannot be read.
pub fn parse(header: Option<&[u8]>) -> Result<Option<BasicCredentials>, &'static str> {
    let Some(header) = header else {
        return Ok(None);
    };
    let Ok(header) = std::str::from_utf8(header) else {
        return Err("the Authorization header is not text");
    };
    let header = header.trim();
    let Some((scheme, encoded)) = header.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "the Basic credentials are not base64")?;
    let decoded = String::from_utf8(decoded).map_err(|_| "the Basic credentials are not UTF-8")?;
    // The user name cannot contain a colon (RFC 7617); the password can.
    let Some((username, password)) = decoded.split_once(':') else {
        return Err("the Basic credentials have no colon between user name and password");
    };
    Ok(Some(BasicCredentials {
        username: username.to_owned(),
        password: password.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn reads_basic_and_ignores_other_schemes() {
        let header = format!("Basic {}", b64("alice:pa:ss word"));
        let c = parse(Some(header.as_bytes())).unwrap().unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password, "pa:ss word");
        let lower = format!("basic  {}", b64("bob:x"));
        assert_eq!(
            parse(Some(lower.as_bytes())).unwrap().unwrap().username,
            "bob"
        );
        assert_eq!(parse(None).unwrap(), None);
        assert_eq!(parse(Some(b"Bearer abc")).unwrap(), None);
        assert!(parse(Some(b"Basic !!!")).is_err());
        assert!(parse(Some(format!("Basic {}", b64("nocolon")).as_bytes())).is_err());
        assert!(!format!("{c:?}").contains("pa:ss"));
    }
}
