#!/usr/bin/env python3
"""What the tests need of xmllint, through lxml (installed by tests/run into .venv, so the
test command needs no system package): well-formedness of the document on stdin, or, given a
schema path, its validity against that XSD. Errors go to stderr as `-:LINE: message`, like
xmllint's; the exit status is 1 when the document is not well-formed or not valid."""
import sys

from lxml import etree

parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
try:
    doc = etree.fromstring(sys.stdin.buffer.read(), parser)
except etree.XMLSyntaxError as e:
    print(f"-:{e.lineno}: {e.msg}", file=sys.stderr)
    sys.exit(1)
if len(sys.argv) > 1:
    schema = etree.XMLSchema(etree.parse(sys.argv[1]))
    if not schema.validate(doc):
        for err in schema.error_log:
            print(f"-:{err.line}: {err.message}", file=sys.stderr)
        sys.exit(1)
