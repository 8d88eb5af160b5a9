#!/usr/bin/env python3
"""zeep's own WS-Addressing plugin against a running Tessera gateway: a call carries a
wsa:MessageID, the response relates to it, a retry with the same MessageID gets the first
answer (same code, same revision) instead of executing again, and the same MessageID with
another request is a fault. Usage: zeep_addressing.py WSDL_URL PORT_NAME CITY. Prints one line
per check; exits 1 on the first failure."""
import sys

import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.wsa import WsAddressingPlugin

WSA = "http://www.w3.org/2005/08/addressing"
wsdl, port, city = sys.argv[1], sys.argv[2], sys.argv[3]


class SameIdPlugin(WsAddressingPlugin):
    """zeep's plugin, with the MessageID of the call being retried instead of a new one."""

    def __init__(self, message_id):
        super().__init__()
        self.message_id = message_id

    def egress(self, envelope, http_headers, operation, binding_options):
        envelope, http_headers = super().egress(envelope, http_headers, operation, binding_options)
        envelope.find(f".//{{{WSA}}}MessageID").text = self.message_id
        return envelope, http_headers


def check(what, cond, got):
    if not cond:
        print(f"FAIL {port} {what}: {got!r}")
        sys.exit(1)
    print(f"ok   {port} {what}")


def service(*plugins):
    return zeep.Client(wsdl, plugins=list(plugins)).bind("ReservationService", port)


admin, p1 = f"{city}A0001", f"{city}P0001"
event = f"{city}E151226"
history = HistoryPlugin()
svc = service(WsAddressingPlugin(), history)
r = svc.addReservationSlot(adminID=admin, eventType="Theatre", eventID=event, capacity=5)
check("add -> CREATED", r.code == "CREATED", r)

r = svc.reserveTicket(participantID=p1, eventType="Theatre", eventID=event)
sent_id = history.last_sent["envelope"].find(f".//{{{WSA}}}MessageID").text
relates = history.last_received["envelope"].find(f".//{{{WSA}}}RelatesTo")
check("reserve -> RESERVED", r.code == "RESERVED", r)
check("the response relates to the call's MessageID", relates is not None and relates.text == sent_id,
      etree.tostring(history.last_received["envelope"]))
first_revision = r.revision

retry = service(SameIdPlugin(sent_id))
r = retry.reserveTicket(participantID=p1, eventType="Theatre", eventID=event)
check("a retry with the same MessageID gets the first answer", r.code == "RESERVED" and r.revision == first_revision, r)

try:
    retry.cancelTicket(participantID=p1, eventType="Theatre", eventID=event)
    check("the same MessageID with another request is refused", False, "answered")
except Fault as f:
    check("the same MessageID with another request is refused", "already used" in f.message, f.message)

r = svc.getEventSchedule(participantID=p1)
check("the reservation was made once and not cancelled",
      [(x.eventID, x.eventType) for x in r.reservation] == [(event, "Theatre")], r)
r = svc.listReservationSlotAvailable(adminID=admin, eventType="Theatre")
check("one seat of five taken", [s.available for s in r.slot if s.eventID == event] == [4], r)
print(f"PASS {port}")
