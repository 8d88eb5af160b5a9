#!/usr/bin/env python3
"""zeep against a Tessera gateway with TLS and authentication on: builds clients from the
served WSDL over HTTPS (verify= the test CA) and checks, on one port, that

- the WSDL needs no credentials;
- calls with a WS-Security UsernameToken (PasswordText; with and without Nonce and Created,
  Created in zeep's +00:00 form) and with HTTP Basic (a requests session) succeed;
- a participant acting as another gets HTTP 403 with a Forbidden fault naming the field, and
  the other's schedule is unchanged;
- no credentials, a wrong password, a replayed nonce, a stale Created and a PasswordDigest
  token each get HTTP 401 with `WWW-Authenticate: Basic realm="tessera"` and a
  wsse:FailedAuthentication (or UnsupportedSecurityToken) fault.

Usage: zeep_auth.py WSDL_URL CA_FILE PORT_NAME CITY SOURCE_ADDRESS (the loopback address to
connect from, so that each run is its own client address for the gateway's throttling). Users (created by the test with
`tesserad user add`): admin (CITYA0001), alice (CITYP0001), bob (CITYP0002), passwords
NAME-password. Prints one line per check; exits 1 on the first failure.
"""
import base64
import datetime
import os
import sys

import requests
import zeep
from requests.adapters import HTTPAdapter
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse import utils as wsse_utils
from zeep.wsse.username import UsernameToken

wsdl, ca, port, city, source = sys.argv[1:6]
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
admin_id, p1, p2 = f"{city}A0001", f"{city}P0001", f"{city}P0002"
event = f"{city}E101226"


def check(what, cond, got):
    if not cond:
        print(f"FAIL {port} {what}: {got!r}")
        sys.exit(1)
    print(f"ok   {port} {what}")


class TextTokenWithNonce(UsernameToken):
    """zeep's UsernameToken sends PasswordText without Nonce and Created; this adds them the
    way zeep writes them for digests (base64 nonce, Created with a +00:00 offset)."""

    def __init__(self, username, password, nonce=None, created=None):
        super().__init__(username, password)
        self.fixed_nonce = nonce
        self.fixed_created = created

    def _create_password_text(self):
        nonce = self.fixed_nonce or os.urandom(16)
        return super()._create_password_text() + [
            wsse_utils.WSSE.Nonce(
                base64.b64encode(nonce).decode("ascii"),
                EncodingType="%s#Base64Binary" % self.soap_message_secutity_ns,
            ),
            wsse_utils.WSU.Created(wsse_utils.get_timestamp(self.fixed_created)),
        ]


class FromSource(HTTPAdapter):
    """Connects from the given local address."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (source, 0)
        super().init_poolmanager(*args, **kwargs)


def session(auth=None):
    s = requests.Session()
    # Only the test CA counts: no REQUESTS_CA_BUNDLE or proxy from the environment.
    s.trust_env = False
    s.mount("https://", FromSource())
    s.verify = ca
    s.auth = auth
    s.responses = []
    s.hooks["response"].append(lambda r, *a, **k: s.responses.append(r))
    return s


def service(wsse=None, auth=None):
    s = session(auth)
    client = zeep.Client(wsdl, transport=Transport(session=s), wsse=wsse)
    return client.bind("ReservationService", port), s


def expect_fault(what, call, status, code, text):
    svc, s = call[0], call[1]
    try:
        call[2](svc)
        check(what, False, "no fault")
    except Fault as f:
        last = s.responses[-1]
        codes = [str(f.code)] + [c.localname for c in (f.subcodes or [])]
        check(
            what,
            last.status_code == status
            and any(code in c for c in codes)
            and text in (f.message or ""),
            (last.status_code, codes, f.message, dict(last.headers)),
        )
        return last


# The WSDL needs no credentials, and it addresses the ports over https.
r = session().get(wsdl)
check("?wsdl without credentials", r.status_code == 200 and "https://" in r.text, r.status_code)
anonymous, anon_session = service()

admin, _ = service(wsse=UsernameToken("admin", "admin-password"))
r = admin.addReservationSlot(adminID=admin_id, eventType="Concerts", eventID=event, capacity=5)
check("UsernameToken (plain zeep) -> CREATED", r.code in ("CREATED", "UPDATED"), r)

alice_basic, _ = service(auth=("alice", "alice-password"))
r = alice_basic.reserveTicket(participantID=p1, eventType="Concerts", eventID=event)
check("HTTP Basic (requests session) -> RESERVED", r.code == "RESERVED", r)

bob, _ = service(wsse=TextTokenWithNonce("bob", "bob-password"))
r = bob.reserveTicket(participantID=p2, eventType="Concerts", eventID=event)
check("UsernameToken with Nonce and Created (+00:00) -> RESERVED", r.code == "RESERVED", r)
before = [(x.eventID, x.eventType) for x in bob.getEventSchedule(participantID=p2).reservation]
check("bob holds his reservation", before == [(event, "Concerts")], before)

# alice acting as bob: 403, whichever way she authenticates, and bob's schedule stays.
alice_basic, alice_session = service(auth=("alice", "alice-password"))
expect_fault(
    "Basic alice cancelling bob's ticket -> 403 Forbidden naming participantID",
    (alice_basic, alice_session,
     lambda s: s.cancelTicket(participantID=p2, eventType="Concerts", eventID=event)),
    403, "Forbidden" if port.endswith("12Port") else "Client", "participantID",
)
alice_token, alice_token_session = service(wsse=TextTokenWithNonce("alice", "alice-password"))
expect_fault(
    "UsernameToken alice exchanging bob's ticket -> 403",
    (alice_token, alice_token_session,
     lambda s: s.exchangeTicket(participantID=p2, eventType="Concerts", eventID=event,
                                newEventType="Concerts", newEventID=event)),
    403, "Forbidden" if port.endswith("12Port") else "Client", "participantID",
)
after = [(x.eventID, x.eventType) for x in bob.getEventSchedule(participantID=p2).reservation]
check("bob's schedule is unchanged", after == before, after)

# A nonce used once: the first use passes, the replay is refused.
nonce = os.urandom(16)
replayer, replay_session = service(wsse=TextTokenWithNonce("bob", "bob-password", nonce=nonce))
r = replayer.getEventSchedule(participantID=p2)
check("first use of a nonce -> OK", r.code == "OK", r)

# Every authentication failure: 401 with the Basic challenge.
last = expect_fault(
    "no credentials -> 401",
    (anonymous, anon_session, lambda s: s.getEventSchedule(participantID=p1)),
    401, "FailedAuthentication", "Authentication required",
)
check("401 carries WWW-Authenticate: Basic realm=\"tessera\"",
      last.headers.get("WWW-Authenticate") == 'Basic realm="tessera"', dict(last.headers))
wrong, wrong_session = service(auth=("alice", "not-her-password"))
expect_fault(
    "Basic with a wrong password -> 401",
    (wrong, wrong_session, lambda s: s.getEventSchedule(participantID=p1)),
    401, "FailedAuthentication", "wrong password",
)
wrong, wrong_session = service(wsse=UsernameToken("alice", "not-her-password"))
expect_fault(
    "UsernameToken with a wrong password -> 401",
    (wrong, wrong_session, lambda s: s.getEventSchedule(participantID=p1)),
    401, "FailedAuthentication", "wrong password",
)
expect_fault(
    "replayed nonce -> 401",
    (replayer, replay_session, lambda s: s.getEventSchedule(participantID=p2)),
    401, "FailedAuthentication", "already used",
)
stale_time = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
stale, stale_session = service(wsse=TextTokenWithNonce("bob", "bob-password", created=stale_time))
expect_fault(
    "Created 10 minutes ago -> 401",
    (stale, stale_session, lambda s: s.getEventSchedule(participantID=p2)),
    401, "FailedAuthentication", "within 5 minutes",
)
digest, digest_session = service(wsse=UsernameToken("bob", "bob-password", use_digest=True))
expect_fault(
    "PasswordDigest -> 401 saying only PasswordText over TLS",
    (digest, digest_session, lambda s: s.getEventSchedule(participantID=p2)),
    401, "UnsupportedSecurityToken", "PasswordText UsernameToken over TLS",
)
print(f"PASS {port}")
