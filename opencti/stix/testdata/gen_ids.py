#!/usr/bin/env python3
"""Generates ids.json, the id test vectors of package stix.

Standard library only: the reference implementation is the one of the protocol specification's
Appendix A (verified there against pycti 6.9's generate_id functions and the stix2 library).
Every worked example of the specification's section 10.4 is asserted against the id the
specification lists, so a wrong implementation here cannot silently produce wrong vectors.

Run from this directory:  python3 gen_ids.py > ids.json
"""

import datetime
import decimal
import json
import uuid

NS = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")


def _num(x):  # ECMAScript number rendering (JCS)
    if isinstance(x, int):
        return str(x)
    if x == 0:
        return "0"
    r = repr(x)  # shortest round-trip digits
    if "e" in r:
        m, e = r.split("e")
        e = int(e)
        if -7 < e < 21:
            return format(decimal.Decimal(r), "f")
        return m + "e" + ("+" if e > 0 else "-") + str(abs(e))
    return r[:-2] if r.endswith(".0") else r


def canonical(v):
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical(v[k])
                              for k in sorted(v, key=lambda k: k.encode("utf-16-be"))) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canonical(i) for i in v) + "]"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    return _num(v)


def make(t, data):
    c = canonical(data)
    return c, t + "--" + str(uuid.uuid5(NS, c))


def _n(s):
    return s.lower().strip()


def _t(x):
    return x.isoformat() if isinstance(x, datetime.datetime) else x


def parse_time(spec):
    """Time spec of the vector file -> the Python value pycti would get."""
    if spec is None:
        return None
    (kind, text), = spec.items()
    if kind == "verbatim":
        return text
    dt = datetime.datetime.fromisoformat(text)
    if kind == "naive":
        assert dt.tzinfo is None
        return dt
    if kind == "utc":
        return dt.replace(tzinfo=datetime.timezone.utc)
    if kind == "aware":
        assert dt.tzinfo is not None
        return dt
    raise ValueError(kind)


def compute(kind, a):
    if kind == "identity":
        return make("identity", {"name": _n(a["name"]), "identity_class": a["identity_class"].lower()})
    if kind in ("malware", "intrusion-set", "tool", "vulnerability"):
        return make(kind, {"name": _n(a["name"])})
    if kind == "attack-pattern":
        if a.get("mitre_id"):
            return make(kind, {"x_mitre_id": a["mitre_id"].strip()})
        return make(kind, {"name": _n(a["name"])})
    if kind == "indicator":
        return make(kind, {"pattern": a["pattern"].strip()})
    if kind == "report":
        return make(kind, {"name": _n(a["name"]), "published": _t(parse_time(a.get("published")))})
    if kind == "location":
        if a["location_type"] == "Position":
            return make(kind, {"name": _n(a["name"])})
        return make(kind, {"name": _n(a["name"]), "x_opencti_location_type": a["location_type"]})
    if kind == "location-position":
        d = {k: a[k] for k in ("latitude", "longitude") if a.get(k) is not None} or {"name": _n(a["name"])}
        return make("location", d)
    if kind == "relationship":
        d = {"relationship_type": a["relationship_type"], "source_ref": a["source_ref"], "target_ref": a["target_ref"]}
        start, stop = parse_time(a.get("start")), parse_time(a.get("stop"))
        if start is not None:
            d["start_time"] = _t(start)
            if stop is not None:
                d["stop_time"] = _t(stop)
        return make(kind, d)
    if kind == "sco":  # props hold only id contributing properties, hash names as STIX spells them
        d = {k: v for k, v in a["props"].items() if v is not None}
        if "hashes" in d:
            h = d["hashes"]
            k = next((x for x in ("MD5", "SHA-1", "SHA-256", "SHA-512") if x in h), next(iter(h)))
            d["hashes"] = {k: h[k]}
        return make(a["type"], d)
    if kind == "external-reference":
        if a.get("url"):
            return make(kind, {"url": a["url"]})
        return make(kind, {"source_name": a["source_name"], "external_id": a["external_id"]})
    if kind == "kill-chain-phase":
        return make(kind, {"phase_name": a["phase_name"], "kill_chain_name": a["kill_chain_name"]})
    if kind == "marking-definition":
        return make(kind, {"definition_type": a["definition_type"], "definition": a["definition"]})
    raise ValueError(kind)


DOMAIN = "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7"
IPV4 = "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7"
EMAIL = "email-addr--e937172e-79fe-5ff9-bf1d-b2a57ad138d2"

# (name, kind, args, id listed in section 10.4 of the specification)
SPEC = [
    ("identity RiskIQ PassiveTotal", "identity", {"name": "RiskIQ PassiveTotal", "identity_class": "organization"},
     "identity--3dd5005e-308b-57f5-b865-ba1f5e230b13"),
    ("identity RiskIQ", "identity", {"name": "RiskIQ", "identity_class": "organization"},
     "identity--12206468-7cbe-566d-a9b5-c7b23a2e8818"),
    ("identity normalisation", "identity", {"name": "  riskiq ", "identity_class": "Organization"},
     "identity--12206468-7cbe-566d-a9b5-c7b23a2e8818"),
    ("malware Emotet", "malware", {"name": "Emotet"}, "malware--36297121-bf18-56e1-b200-d39c9f9f5cee"),
    ("intrusion-set APT28", "intrusion-set", {"name": "APT28"}, "intrusion-set--f743ab1d-b2f2-58f8-975f-0993511c0b9d"),
    ("tool Cobalt Strike", "tool", {"name": "Cobalt Strike"}, "tool--d2d17342-7c91-563c-bb85-a51d5b5c30e4"),
    ("attack-pattern with ATT&CK id", "attack-pattern", {"name": "Spearphishing Attachment", "mitre_id": "T1566.001"},
     "attack-pattern--6b3d6efe-0d48-5d0d-875a-086b0d02d110"),
    ("attack-pattern without ATT&CK id", "attack-pattern", {"name": "Spearphishing Attachment"},
     "attack-pattern--70166673-00f0-5946-a641-b0b502ea6f5b"),
    ("vulnerability CVE-2021-44228", "vulnerability", {"name": "CVE-2021-44228"},
     "vulnerability--693c68fd-9a33-5d6d-b44e-407b6a48b05b"),
    ("location France", "location", {"name": "France", "location_type": "Country"},
     "location--b8d0549f-de06-5ebd-a6e9-d31a581dba5d"),
    ("location position 48.8566 2.3522", "location-position", {"name": "Paris", "latitude": 48.8566, "longitude": 2.3522},
     "location--76554dbe-0dbc-52fa-816d-ca9e292f0551"),
    ("location position 48.0 2.0", "location-position", {"name": "Somewhere", "latitude": 48.0, "longitude": 2.0},
     "location--81f299d6-75d2-56e4-b759-6f960efe77be"),
    ("indicator ipv4 pattern", "indicator", {"pattern": "[ipv4-addr:value = '8.8.8.8']"},
     "indicator--7ad3d74b-c761-522d-9359-5e7565a3abb4"),
    ("report published string", "report", {"name": "RiskIQ Weekly", "published": {"verbatim": "2024-01-15T10:30:00Z"}},
     "report--993679b5-0738-5a6a-98d2-6b2a16bd30d7"),
    ("report published aware utc", "report", {"name": "RiskIQ Weekly", "published": {"utc": "2024-01-15T10:30:00"}},
     "report--c0279041-17ba-546d-8b39-c2b3e56f0d54"),
    ("report published aware utc with milliseconds", "report",
     {"name": "RiskIQ Weekly", "published": {"utc": "2024-01-15T10:30:00.123"}},
     "report--72563bd4-0ca8-5fe5-9e76-e0bcd25bd8d2"),
    ("ipv4-addr 8.8.8.8", "sco", {"type": "ipv4-addr", "props": {"value": "8.8.8.8"}}, IPV4),
    ("domain-name example.com", "sco", {"type": "domain-name", "props": {"value": "example.com"}}, DOMAIN),
    ("ipv6-addr 2001:db8::1", "sco", {"type": "ipv6-addr", "props": {"value": "2001:db8::1"}},
     "ipv6-addr--6469e3a9-b053-5e34-a025-9396ae051d26"),
    ("email-addr hostmaster@example.com", "sco", {"type": "email-addr", "props": {"value": "hostmaster@example.com"}}, EMAIL),
    ("url https://example.com/a", "sco", {"type": "url", "props": {"value": "https://example.com/a"}},
     "url--6ccd10ff-4c3f-5062-a19f-b6bd987c6637"),
    ("autonomous-system 15169", "sco", {"type": "autonomous-system", "props": {"number": 15169}},
     "autonomous-system--7afc7bdf-d070-5add-90ff-f93503b1654d"),
    ("file a.exe with SHA-256 and MD5", "sco", {"type": "file", "props": {"name": "a.exe", "hashes": {
        "SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "MD5": "d41d8cd98f00b204e9800998ecf8427e"}}},
     "file--7e567502-8994-53ff-9c69-79240cae362d"),
    ("relationship naive start", "relationship", {"relationship_type": "resolves-to", "source_ref": DOMAIN,
                                                  "target_ref": IPV4, "start": {"naive": "2024-01-01T00:00:00"}},
     "relationship--66d5d812-2872-56c5-8582-c08b4c1c5818"),
    ("relationship verbatim start", "relationship", {"relationship_type": "resolves-to", "source_ref": DOMAIN,
                                                     "target_ref": IPV4, "start": {"verbatim": "2024-01-01T00:00:00Z"}},
     "relationship--7a283f99-d2db-594f-93ee-d5f9ca096874"),
    ("relationship PassiveTotal style start", "relationship", {
        "relationship_type": "resolves-to", "source_ref": DOMAIN,
        "target_ref": "ipv4-addr--" + str(uuid.uuid5(NS, '{"value":"93.184.216.34"}')),
        "start": {"naive": "2023-05-01T10:20:30"}},
     "relationship--a555fd6e-b2fb-5d94-97e5-9e4edb3d443f"),
    ("relationship without times", "relationship", {"relationship_type": "related-to", "source_ref": DOMAIN,
                                                    "target_ref": EMAIL},
     "relationship--07c252f6-3144-5a30-b12f-779039bc380d"),
    ("external reference url", "external-reference", {"url": "https://community.riskiq.com/article/abc"},
     "external-reference--1dc6f8ab-de72-5f50-a55e-9551ba2485ec"),
    ("kill chain phase", "kill-chain-phase", {"kill_chain_name": "mitre-attack", "phase_name": "initial-access"},
     "kill-chain-phase--669c7069-0cda-5e65-8ce0-002e631ee320"),
    ("marking statement custom", "marking-definition", {"definition_type": "statement", "definition": "custom"},
     "marking-definition--624ceec7-626d-5808-a4b1-ec4447860f6c"),
]

TRICKY = ["a<b>&c.example", "x\u2028y", "\u00fc", "M\u00fcnchen", "tab\there", "quote\"back\\slash",
          "\x01ctrl\x1f", "\U0001F600 emoji", "\u03a3\u0391\u03a3 \u039f\u0394\u039f\u03a3", "\u0130stanbul",
          "\x1c trimmed by python \x1f", "\u00a0nbsp\u3000", "\u2029", "a\u0000b", "\u00c9COLE"]

# (name, kind, args): ids computed by the reference implementation above
EXTRA = []
for i, s in enumerate(TRICKY):
    EXTRA.append(("identity tricky %d" % i, "identity", {"name": s, "identity_class": "Organization"}))
    EXTRA.append(("domain-name tricky %d" % i, "sco", {"type": "domain-name", "props": {"value": s}}))
    EXTRA.append(("indicator tricky %d" % i, "indicator", {"pattern": " [domain-name:value = '%s'] " % s}))
    EXTRA.append(("malware tricky %d" % i, "malware", {"name": s}))
EXTRA += [
    ("sector", "identity", {"name": "Finance", "identity_class": "class"}),
    ("intrusion-set unicode", "intrusion-set", {"name": " Fancy B\u00e4r "}),
    ("tool trims", "tool", {"name": "\tMimikatz\n"}),
    ("vulnerability lower", "vulnerability", {"name": "CVE-2024-3094"}),
    ("attack-pattern mitre id trimmed, case kept", "attack-pattern", {"name": "x", "mitre_id": " t1059 "}),
    ("location city", "location", {"name": "Paris", "location_type": "City"}),
    ("location region", "location", {"name": "Western Europe", "location_type": "Region"}),
    ("location position type without coordinates", "location", {"name": "Some Place", "location_type": "Position"}),
    ("location position latitude only", "location-position", {"name": "x", "latitude": -33.8688}),
    ("location position longitude only", "location-position", {"name": "x", "longitude": 151.2093}),
    ("location position no coordinates", "location-position", {"name": " Null Island "}),
    ("location position exponents", "location-position", {"name": "x", "latitude": 1e-7, "longitude": 1e21}),
    ("location position small", "location-position", {"name": "x", "latitude": 0.000001, "longitude": -0.0}),
    ("location position integers", "location-position", {"name": "x", "latitude": 90, "longitude": -180}),
    ("report naive microseconds", "report", {"name": "R", "published": {"naive": "2024-02-29T23:59:59.000001"}}),
    ("report aware offset", "report", {"name": "R", "published": {"aware": "2024-01-15T10:30:00+02:00"}}),
    ("report aware negative offset", "report", {"name": "R", "published": {"aware": "2024-01-15T10:30:00.5-09:30"}}),
    ("report verbatim dateutil style", "report", {"name": " R ", "published": {"verbatim": "2024-01-15 10:30:00"}}),
    ("report published none", "report", {"name": "R"}),
    ("relationship start and stop", "relationship", {
        "relationship_type": "resolves-to", "source_ref": DOMAIN, "target_ref": IPV4,
        "start": {"utc": "2024-01-01T00:00:00"}, "stop": {"utc": "2024-03-01T12:00:00.250"}}),
    ("relationship stop without start is ignored", "relationship", {
        "relationship_type": "resolves-to", "source_ref": DOMAIN, "target_ref": IPV4,
        "stop": {"utc": "2024-03-01T12:00:00"}}),
    ("relationship naive start, verbatim stop", "relationship", {
        "relationship_type": "communicates-with", "source_ref": IPV4, "target_ref": DOMAIN,
        "start": {"naive": "2023-05-01T10:20:30"}, "stop": {"verbatim": "2023-06-01 00:00:00"}}),
    ("file name only", "sco", {"type": "file", "props": {"name": "invoice.pdf.exe"}}),
    ("file sha-1 only", "sco", {"type": "file", "props": {"hashes": {"SHA-1": "da39a3ee5e6b4b0d3255bfef95601890afd80709"}}}),
    ("file sha-256 beats sha-512", "sco", {"type": "file", "props": {"hashes": {
        "SHA-512": "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        "SHA-256": "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"}}}),
    ("file sha3-256 only", "sco", {"type": "file", "props": {"hashes": {
        "SHA3-256": "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"}}}),
    ("x509 serial only", "sco", {"type": "x509-certificate", "props": {"serial_number": "36:f7:d4:32:f4:ab:70:ea:d3:ce:98:6e:ea:99:93:49:32:0a:b7:06"}}),
    ("x509 sha-1 and serial", "sco", {"type": "x509-certificate", "props": {
        "hashes": {"SHA-1": "fa8e2ef0e3e42b8e6d4c1d8ac2b1a0e1b9b8f8f8"}, "serial_number": "01"}}),
    ("mutex", "sco", {"type": "mutex", "props": {"name": "Global\\MsWinZonesCacheCounterMutexA"}}),
    ("url unicode", "sco", {"type": "url", "props": {"value": "https://ex\u00e4mple.com/p?a=1&b=<2>"}}),
    ("domain case kept", "sco", {"type": "domain-name", "props": {"value": "Example.COM"}}),
    ("autonomous-system big", "sco", {"type": "autonomous-system", "props": {"number": 4294967295}}),
    ("software", "sco", {"type": "software", "props": {"name": "Word", "vendor": "Microsoft", "version": "2016", "cpe": "cpe:2.3:a:microsoft:word:2016:*:*:*:*:*:*:*"}}),
    ("network-traffic", "sco", {"type": "network-traffic", "props": {
        "src_ref": IPV4, "dst_port": 443, "protocols": ["ipv4", "tcp", "tls"]}}),
    ("user-account", "sco", {"type": "user-account", "props": {"account_login": "root", "account_type": "unix"}}),
    ("windows-registry-key", "sco", {"type": "windows-registry-key", "props": {"key": "HKEY_LOCAL_MACHINE\\Software\\Run"}}),
    ("hostname", "sco", {"type": "hostname", "props": {"value": "WKS-001"}}),
    ("text", "sco", {"type": "text", "props": {"value": "free text \u00e9"}}),
    ("user-agent", "sco", {"type": "user-agent", "props": {"value": "Mozilla/5.0 (X11; Linux x86_64)"}}),
    ("phone-number", "sco", {"type": "phone-number", "props": {"value": "+33 1 23 45 67 89"}}),
    ("cryptocurrency-wallet", "sco", {"type": "cryptocurrency-wallet", "props": {"value": "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"}}),
    ("persona", "sco", {"type": "persona", "props": {"persona_name": "darkangel", "persona_type": "nickname"}}),
    ("payment-card", "sco", {"type": "payment-card", "props": {"card_number": "4111111111111111"}}),
    ("bank-account", "sco", {"type": "bank-account", "props": {"iban": "FR7630006000011234567890189"}}),
    ("media-content", "sco", {"type": "media-content", "props": {"url": "https://news.example/a"}}),
    ("directory", "sco", {"type": "directory", "props": {"path": "C:\\Windows\\Temp"}}),
    ("mac-addr", "sco", {"type": "mac-addr", "props": {"value": "00:00:5e:00:53:af"}}),
    ("email-message", "sco", {"type": "email-message", "props": {"subject": "Invoice", "from_ref": EMAIL}}),
    ("external reference source and id", "external-reference", {"source_name": "mitre-attack", "external_id": "T1566"}),
    ("external reference unicode url", "external-reference", {"url": "https://example.com/\u00e9t\u00e9?q=<a>&b"}),
    ("kill chain phase other", "kill-chain-phase", {"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "delivery"}),
    ("marking PAP", "marking-definition", {"definition_type": "PAP", "definition": "PAP:GREEN"}),
    ("marking TLP lower-case is not fixed", "marking-definition", {"definition_type": "TLP", "definition": "tlp:green"}),
]


def main():
    vectors = []
    for name, kind, args, want in SPEC:
        canon, got = compute(kind, args)
        assert got == want, (name, got, want)
        vectors.append({"name": "spec " + name, "kind": kind, "args": args, "canonical": canon, "id": got})
    for name, kind, args in EXTRA:
        canon, got = compute(kind, args)
        vectors.append({"name": name, "kind": kind, "args": args, "canonical": canon, "id": got})
    fixed = [("TLP:CLEAR", "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
             ("TLP:WHITE", "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
             ("TLP:GREEN", "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"),
             ("TLP:AMBER", "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"),
             ("TLP:AMBER+STRICT", "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"),
             ("TLP:RED", "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed")]
    for definition, want in fixed:  # pycti returns fixed ids, no hashing
        vectors.append({"name": "marking fixed " + definition, "kind": "marking-definition",
                        "args": {"definition_type": "TLP", "definition": definition}, "id": want})
    print(json.dumps(vectors, indent=1))


if __name__ == "__main__":
    main()
