#!/usr/bin/env python3
"""Writes envelopes.json: envelope inputs and the bytes pycti sends for them.

pycti (OpenCTIConnectorHelper._send_bundle) builds the message as a dict in this key order
and encodes it with json.dumps(message) (default separators, ensure_ascii=True); content is
base64.b64encode(bundle.encode("utf-8", "escape")).decode("utf-8"). Run from this directory:
python3 gen_envelopes.py > envelopes.json
"""
import base64
import json

cases = [
    {"name": "minimal", "part": '{"type": "bundle", "id": "bundle--1", "objects": []}',
     "applicant_id": None, "seq": 1, "entities_types": [], "update": False, "draft_id": None, "work_id": None},
    {"name": "full", "part": '{"type": "bundle", "objects": [{"type": "domain-name", "value": "example.com"}]}',
     "applicant_id": "88ec0c6a-13ce-5e39-b486-354fe4a7084f", "seq": 3, "entities_types": [],
     "update": False, "draft_id": None,
     "work_id": "work_5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11_2024-01-15T10:30:00.000Z"},
    {"name": "draft_update_types", "part": '{"name": "caf\u00e9 \U0001F600"}',
     "applicant_id": "user", "seq": 12, "entities_types": ["Report", "Domain-Name"],
     "update": True, "draft_id": "draft-1", "work_id": "w"},
    {"name": "escapes", "part": "",
     "applicant_id": "q\"b\\s/<>&\n\r\t\b\f\x00\x1f\x7f\u00e9\u2028\U0001F600", "seq": 1,
     "entities_types": ["t\u00e9", "\U00010000", "\uffff"], "update": False,
     "draft_id": "\u0100", "work_id": None},
]

out = []
for c in cases:
    message = {
        "bundle_type": "QUEUE_BUNDLE",
        "applicant_id": c["applicant_id"],
        "action_sequence": c["seq"],
        "entities_types": c["entities_types"],
        "content": base64.b64encode(c["part"].encode("utf-8", "escape")).decode("utf-8"),
        "update": c["update"],
        "draft_id": c["draft_id"],
    }
    if c["work_id"] is not None:
        message["work_id"] = c["work_id"]
    out.append({"name": c["name"], "input": c, "want": json.dumps(message)})
print(json.dumps(out, indent=2))
