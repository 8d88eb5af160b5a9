#!/usr/bin/env python3
"""An independent SOAP stack (zeep) against a running Tessera gateway: builds a client from
the served WSDL and drives all seven operations over the given port, checking typed results
and typed faults. Usage: zeep_scenario.py WSDL_URL PORT_NAME CITY. Prints one line per check;
exits 1 on the first failure."""
import sys

import zeep
from lxml import etree
from zeep.exceptions import Fault

wsdl, port, city = sys.argv[1], sys.argv[2], sys.argv[3]
client = zeep.Client(wsdl)
svc = client.bind("ReservationService", port)
admin, p1, p2 = f"{city}A0001", f"{city}P0001", f"{city}P0002"
e1, e2 = f"{city}E101226", f"{city}M111226"


def check(what, cond, got):
    if not cond:
        print(f"FAIL {port} {what}: {got!r}")
        sys.exit(1)
    print(f"ok   {port} {what}")


r = svc.addReservationSlot(adminID=admin, eventType="Concerts", eventID=e1, capacity=1)
check("add -> CREATED", r.success is True and r.code == "CREATED" and r.revision >= 1, r)
r = svc.addReservationSlot(adminID=admin, eventType="Concerts", eventID=e2, capacity=2)
check("add second slot", r.code == "CREATED", r)
r = svc.reserveTicket(participantID=p1, eventType="Concerts", eventID=e1)
check("reserve -> RESERVED", r.success and r.code == "RESERVED", r)
r = svc.reserveTicket(participantID=p2, eventType="Concerts", eventID=e1)
check("reserve full -> SLOT_FULL (a business refusal, not a fault)", r.success is False and r.code == "SLOT_FULL", r)
r = svc.listReservationSlotAvailable(adminID=admin, eventType="Concerts")
rows = [(s.eventID, s.eventType, s.available) for s in r.slot if s.eventID.startswith(city)]
check("list -> typed slots", r.code == "OK" and (e1, "Concerts", 0) in rows and (e2, "Concerts", 2) in rows, rows)
r = svc.getEventSchedule(participantID=p1)
check("schedule -> typed reservations", r.code == "OK" and [(x.eventID, x.eventType) for x in r.reservation] == [(e1, "Concerts")], r)
r = svc.exchangeTicket(participantID=p1, eventType="Concerts", eventID=e1, newEventType="Concerts", newEventID=e2)
check("exchange -> EXCHANGED", r.code == "EXCHANGED", r)
r = svc.cancelTicket(participantID=p1, eventType="Concerts", eventID=e2)
check("cancel -> CANCELLED", r.code == "CANCELLED", r)
r = svc.reserveTicket(participantID=p2, eventType="Concerts", eventID=e1)
r = svc.removeReservationSlot(adminID=admin, eventType="Concerts", eventID=e1)
check("remove -> REMOVED with moved/dropped", r.code == "REMOVED" and r.moved == 1 and r.dropped == 0, r)
revisions = []
for _ in range(2):
    revisions.append(svc.getEventSchedule(participantID=p2).revision)
# Reads may be answered at the revision they read (fast reads) or at one of their own: never lower.
check("revisions never go back", revisions[1] >= revisions[0] > 0, revisions)

try:
    svc.reserveTicket(participantID=f"{city}X0001", eventType="Concerts", eventID=e1)
    check("bad ID -> fault", False, "no fault")
except Fault as f:
    detail = f.detail
    ns = {"t": "urn:tessera:reservation:v1"}
    field = detail.find(".//t:invalidArgument/t:field", ns) if detail is not None else None
    check("bad ID -> typed InvalidArgument fault naming the field",
          field is not None and field.text == "participantID" and f.code and ("Client" in f.code or "Sender" in f.code),
          (f.code, f.message, detail))
try:
    svc.addReservationSlot(adminID=admin, eventType="Concerts", eventID=e1, capacity=0)
    check("capacity 0 -> fault", False, "no fault")
except Fault as f:
    detail = etree.tostring(f.detail) if f.detail is not None else b""
    check("capacity 0 -> fault naming capacity", b"<field>capacity</field>" in detail or b":field>capacity<" in detail, detail)
print(f"PASS {port}")
