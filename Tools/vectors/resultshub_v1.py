"""ResultsHub wire protocol version 1 (specification 1.3): an independent reference codec.

Written from Protocol/SPEC.md alone (not from the Swift sources), Python 3.11, standard library only.
Specification 1.1 fields (appended to WELCOME, SCOREBOARD, CONTEST and ELECTION) are written when the dict has
them and read when bytes remain after the 1.0 fields, so a 1.0 peer's messages decode without them. The 1.2
rehearsal marking (SPEC 6.17) and the 1.3 GOODBYE `leader` (SPEC 6.18) are appended and read the same way.
Messages are plain dicts whose shape is exactly the "fields" object of Protocol/vectors/messages.json:
camelCase field names from the spec's tables, enumerations as numbers (except a record's or ACK's
"status", which is "declared"/"withdrawn"), bools as bools, u64 checksums/digests as "0x" + 16 hex
digits, and conditional fields left out when absent. Decoding checks fields in their table order and
raises ProtocolError(error) with the spec's error name, or "truncated" / "checksumMismatch".
Interpretations of ambiguous spec text are listed in Tools/vectors/README.md.
"""
from __future__ import annotations

import struct
import zlib

MAGIC = b"RHUB"
PROTOCOL_VERSION = 1
PRE_HANDSHAKE_MAX_FRAME = 4096
ESTABLISHED_MAX_FRAME = 1_048_576
MAX_DECOMPRESSED = 4_194_304
U64_MAX = (1 << 64) - 1
ID_MAX = (1 << 32) - 1  # contest id and revision (section 9)
MAX_PARTY_COUNTS = 256
MAX_CANDIDATE_VOTES = 64
MAX_FILTER_REGIONS = 64
MAX_EVENTS = 65_535
MAX_SNAPSHOT_RECORDS = 65_535
MAX_SCOREBOARD_ROWS = 1024
MAX_WELCOME_REGIONS = 1024  # section 9 (1.1)
MAX_CONTROL = 1024  # party index 1023 + 1 (section 3, 1.1)
MAX_SEAT_CHANGES = 1024  # CONTEST seatChanges (1.1)
MAX_CHANGE = ID_MAX  # magnitude of a councillor or seat change (1.1)
MAX_GSS_CODE = 16
MAX_SEATS_BEFORE_NOTE = 1024
MAX_ADDRESS = 261  # GOODBYE leader, host:port (1.3): a DNS name is at most 253 bytes
DICTIONARY_MAX = 32_768

ERROR_CODES = {
    "normal": 0, "malformedFrame": 1, "frameTooLarge": 2, "unknownMessageType": 3, "unexpectedMessage": 4,
    "unsupportedVersion": 5, "notThisProtocol": 6, "authenticationFailed": 7, "decompressionFailed": 8,
    "decompressedTooLarge": 9, "limitExceeded": 10, "handshakeTimeout": 11, "idleTimeout": 12,
    "slowConsumer": 13, "shuttingDown": 14, "tooManyConnections": 15, "internalError": 16, "invalidResume": 17,
    "unknownContest": 100, "unknownParty": 101, "seatsDoNotAddUp": 102, "invalidDeclaration": 103,
    "staleRevision": 104, "revisionConflict": 105, "deskNotAllowed": 106, "nothingToWithdraw": 107,
    "storeUnavailable": 108,
}

MESSAGE_TYPES = {
    0x01: "HELLO", 0x02: "WELCOME", 0x03: "VERSION_RANGE", 0x10: "SUBMIT", 0x11: "WITHDRAW", 0x12: "ACK",
    0x13: "REJECT", 0x20: "SUBSCRIBE", 0x21: "SNAPSHOT", 0x22: "DELTA_BATCH", 0x30: "HEARTBEAT", 0x31: "QUERY",
    0x32: "SCOREBOARD", 0x33: "CONTEST", 0x34: "ELECTION", 0x3F: "GOODBYE",
}
TYPE_CODES = {name: code for code, name in MESSAGE_TYPES.items()}

STATUS_NAMES = {1: "declared", 2: "withdrawn"}
STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}
FIELD_VOTES, FIELD_TURNOUT, FIELD_CANDIDATE_VOTES = 1, 2, 4
HELLO_COMPRESSION_KNOWN = 0x03  # HELLO compression bit 0 zlib, bit 1 raw deflate; other bits are masked off
PARTY_GROUP = 1  # election definition party flags bit 0: a group ("Independents and others")
DETAIL_GSS_CODE, DETAIL_SEATS_BEFORE = 1, 2  # contestDetail fields bits (7.3.1)
OUTCOME_UNKNOWN, OUTCOME_HOLD, OUTCOME_GAIN, OUTCOME_NO_CHANGE, OUTCOME_LOST_TO_NOC = range(5)


class ProtocolError(Exception):
    """error: a spec error name (section 10), or "truncated" (more bytes needed) or "checksumMismatch"."""

    def __init__(self, error: str, message: str = "", detail: str | None = None):
        super().__init__(f"{error}{'/' + detail if detail else ''}: {message}")
        self.error, self.message, self.detail = error, message, detail


def u64hex(value: int) -> str:
    return "0x%016x" % value


def parse_u64(text: str) -> int:
    if not (isinstance(text, str) and len(text) == 18 and text.startswith("0x")):
        raise ValueError(f"u64 must be '0x' + 16 hex digits: {text!r}")
    return int(text[2:], 16)


# ----------------------------------------------------------------------------------------------- primitives

class Writer:
    """Appends primitives. check=False lets test generators write out-of-range values on purpose."""

    def __init__(self, check: bool = True):
        self.buf = bytearray()
        self.check = check

    def _ensure(self, ok: bool, what: str):
        if self.check and not ok:
            raise ValueError(f"cannot encode: {what}")

    def raw(self, data: bytes):
        self.buf += data

    def u8(self, v: int):
        self.buf += struct.pack(">B", v)

    def u16(self, v: int):
        self.buf += struct.pack(">H", v)

    def u32(self, v: int):
        self.buf += struct.pack(">I", v)

    def u64(self, v: int):
        self.buf += struct.pack(">Q", v)

    def varint(self, v: int):
        if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= U64_MAX):
            raise ValueError(f"varint out of range: {v!r}")
        while v >= 0x80:
            self.buf.append((v & 0x7F) | 0x80)
            v >>= 7
        self.buf.append(v)

    def svarint(self, v: int):
        if not (-(1 << 63) <= v < (1 << 63)):
            raise ValueError(f"svarint out of range: {v}")
        self.varint(((v << 1) ^ (v >> 63)) & U64_MAX)

    def id32(self, v: int, what: str):
        self._ensure(1 <= v <= ID_MAX, f"{what} must be 1..2^32-1")
        self.varint(v)

    def boolean(self, v: bool):
        self._ensure(isinstance(v, bool), "bool expected")
        self.u8(1 if v else 0)

    def count(self, n: int, limit: int, what: str):
        self._ensure(n <= limit, f"{what}: {n} > {limit}")
        self.varint(n)

    def string(self, s: str, limit: int, what: str):
        data = s.encode("utf-8")
        self._ensure(len(data) <= limit, f"{what}: {len(data)} bytes > {limit}")
        self.varint(len(data))
        self.buf += data

    def bytes(self) -> bytes:
        return bytes(self.buf)


class Reader:
    """Reads primitives from a complete buffer. Running out is `eof_error` (malformedFrame inside a payload)."""

    def __init__(self, data: bytes, eof_error: str = "malformedFrame"):
        self.data = bytes(data)
        self.pos = 0
        self.eof_error = eof_error

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if self.remaining() < n:
            raise ProtocolError(self.eof_error, f"input ends inside {what}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return struct.unpack(">H", self.take(2, what))[0]

    def u64(self, what: str) -> int:
        return struct.unpack(">Q", self.take(8, what))[0]

    def varint(self, what: str) -> int:
        value = 0
        for i in range(10):
            b = self.take(1, what)[0]
            if i == 9 and b > 1:  # the 10th byte carries bit 63 only, and never a continuation bit
                raise ProtocolError("malformedFrame", f"{what}: varint longer than 10 bytes or above 2^64-1")
            value |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                if b == 0 and i > 0:
                    raise ProtocolError("malformedFrame", f"{what}: non-minimal varint")
                return value
        raise AssertionError("unreachable")

    def svarint(self, what: str) -> int:
        n = self.varint(what)
        return (n >> 1) ^ -(n & 1)

    def change(self, what: str) -> int:
        """An svarint whose magnitude is at most 2^32-1 (1.1 changes)."""
        v = self.svarint(what)
        if abs(v) > MAX_CHANGE:
            raise ProtocolError("limitExceeded", f"{what}: {v} beyond ±(2^32-1)")
        return v

    def bounded(self, limit: int, what: str) -> int:
        v = self.varint(what)
        if v > limit:
            raise ProtocolError("limitExceeded", f"{what}: {v} > {limit}")
        return v

    def id32(self, what: str) -> int:
        v = self.varint(what)
        if v > ID_MAX:
            raise ProtocolError("limitExceeded", f"{what} {v} > 2^32-1")
        if v == 0:
            raise ProtocolError("malformedFrame", f"{what} must be at least 1")
        return v

    def boolean(self, what: str) -> bool:
        b = self.u8(what)
        if b > 1:
            raise ProtocolError("malformedFrame", f"{what}: bool value {b}")
        return b == 1

    def enum(self, what: str, allowed) -> int:
        b = self.u8(what)
        if b not in allowed:
            raise ProtocolError("malformedFrame", f"{what}: unknown value {b}")
        return b

    def count(self, limit: int, what: str) -> int:
        n = self.varint(what)
        if n > limit:  # before anything is allocated or read
            raise ProtocolError("limitExceeded", f"{what}: count {n} > {limit}")
        return n

    def string(self, limit: int, what: str) -> str:
        n = self.varint(what)
        if n > limit:  # the limit is checked before the bytes are looked at
            raise ProtocolError("limitExceeded", f"{what}: {n} bytes > {limit}")
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise ProtocolError("malformedFrame", f"{what}: invalid UTF-8") from None


def encode_varint(v: int) -> bytes:
    w = Writer()
    w.varint(v)
    return w.bytes()


def encode_svarint(v: int) -> bytes:
    w = Writer()
    w.svarint(v)
    return w.bytes()


def decode_varint(data: bytes) -> tuple[int, int]:
    """A bare varint at the start of data -> (value, bytes used). Running out of input is 'truncated'."""
    r = Reader(data, eof_error="truncated")
    return r.varint("varint"), r.pos


def decode_svarint(data: bytes) -> tuple[int, int]:
    r = Reader(data, eof_error="truncated")
    return r.svarint("svarint"), r.pos


# ---------------------------------------------------------------------------------------- H and checksum

def H(data: bytes) -> int:
    """64-bit FNV-1a followed by the MurmurHash3 fmix64 finaliser (section 7.1)."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & U64_MAX
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & U64_MAX
    h ^= h >> 33
    h = (h * 0xC4CEB93FE53E4B87) & U64_MAX
    h ^= h >> 33
    return h


def state_checksum_of_bytes(record_bytes_list) -> int:
    return sum(H(b) for b in record_bytes_list) & U64_MAX


def state_checksum(records) -> int:
    """Checksum of contest-record dicts (declared and withdrawn alike)."""
    return state_checksum_of_bytes(encode_record(r) for r in records)


# ----------------------------------------------------------------------------------- contest records

def _put_party_counts(w: Writer, pairs, what: str, canonical: bool, nonzero: bool = False):
    w.count(len(pairs), MAX_PARTY_COUNTS, what)
    previous = -1
    for party, n in pairs:
        if canonical:
            w._ensure(party > previous, f"{what} must be in strictly ascending party index")
            w._ensure(not nonzero or n >= 1, f"{what} lists only parties with at least one seat")
        previous = party
        w.varint(party)
        w.varint(n)


def _get_party_counts(r: Reader, what: str, canonical: bool, nonzero: bool = False) -> list:
    out = []
    for _ in range(r.count(MAX_PARTY_COUNTS, what)):
        party = r.varint(what + " party index")
        n = r.varint(what + " count")
        if canonical:
            if out and party <= out[-1][0]:
                raise ProtocolError("malformedFrame", f"{what} not in strictly ascending party index")
            if nonzero and n == 0:
                raise ProtocolError("malformedFrame", f"{what} lists a party with zero seats")
        out.append([party, n])
    return out


def _fields_bits(d: dict) -> int:
    return ((FIELD_VOTES if "votes" in d else 0) | (FIELD_TURNOUT if "turnout" in d else 0)
            | (FIELD_CANDIDATE_VOTES if "candidateVotes" in d else 0))


def _put_optional_results(w: Writer, d: dict, canonical: bool):
    if "votes" in d:
        _put_party_counts(w, d["votes"], "votes", canonical)
    if "turnout" in d:
        if canonical:
            w._ensure(d["turnout"] <= 10000, "turnout is at most 10000 basis points")
        w.varint(d["turnout"])
    if "candidateVotes" in d:
        w.count(len(d["candidateVotes"]), MAX_CANDIDATE_VOTES, "candidateVotes")
        for v in d["candidateVotes"]:
            w.varint(v)


def _get_optional_results(r: Reader, fields: int, out: dict, canonical: bool):
    if fields & ~(FIELD_VOTES | FIELD_TURNOUT | FIELD_CANDIDATE_VOTES):
        raise ProtocolError("malformedFrame", f"reserved bits in fields {fields:#x}")
    out["seats"] = _get_party_counts(r, "seats", canonical, nonzero=True)
    if fields & FIELD_VOTES:
        out["votes"] = _get_party_counts(r, "votes", canonical)
    if fields & FIELD_TURNOUT:
        out["turnout"] = r.varint("turnout")
        if canonical and out["turnout"] > 10000:
            raise ProtocolError("malformedFrame", "record turnout over 10000 basis points")
    if fields & FIELD_CANDIDATE_VOTES:
        out["candidateVotes"] = [r.varint("candidateVotes") for _ in range(r.count(MAX_CANDIDATE_VOTES,
                                                                                   "candidateVotes"))]


def put_record(w: Writer, rec: dict, status_byte: int | None = None, extra_field_bits: int = 0):
    """Section 4.2. status_byte / extra_field_bits exist only so generators can write invalid records."""
    w.id32(rec["contestID"], "contestID")
    w.id32(rec["revision"], "revision")
    status = rec["status"]
    w.u8(STATUS_CODES[status] if status_byte is None else status_byte)
    if status == "declared":
        w.varint(rec["control"])
        w._ensure(0 <= rec["outcome"] <= 4, "outcome is 0..4")
        w.u8(rec["outcome"])
        w.varint(_fields_bits(rec) | extra_field_bits)
        _put_party_counts(w, rec["seats"], "seats", canonical=True, nonzero=True)
        _put_optional_results(w, rec, canonical=True)
        w.varint(rec["declaredAt"])
        w.string(rec["deskID"], 64, "deskID")
    elif status == "withdrawn":
        w.varint(rec["withdrawnAt"])
        w.string(rec["deskID"], 64, "deskID")
        w.string(rec["reason"], 256, "reason")
    else:
        raise ValueError(f"unknown status {status!r}")


def get_record(r: Reader) -> dict:
    rec = {"contestID": r.id32("contestID"), "revision": r.id32("revision")}
    rec["status"] = STATUS_NAMES[r.enum("status", STATUS_NAMES)]
    if rec["status"] == "declared":
        rec["control"] = r.bounded(MAX_CONTROL, "control")
        rec["outcome"] = r.enum("outcome", range(5))
        _get_optional_results(r, r.varint("fields"), rec, canonical=True)
        rec["declaredAt"] = r.varint("declaredAt")
        rec["deskID"] = r.string(64, "deskID")
    else:
        rec["withdrawnAt"] = r.varint("withdrawnAt")
        rec["deskID"] = r.string(64, "deskID")
        rec["reason"] = r.string(256, "reason")
    return rec


def encode_record(rec: dict) -> bytes:
    w = Writer()
    put_record(w, rec)
    return w.bytes()


def decode_record(data: bytes) -> dict:
    return get_record(Reader(data))


def put_declaration(w: Writer, d: dict):
    """Section 4.3: lists in the order given (any order, zero counts and duplicates are the hub's to judge)."""
    w.id32(d["contestID"], "contestID")
    w.id32(d["revision"], "revision")
    w.varint(_fields_bits(d))
    _put_party_counts(w, d["seats"], "seats", canonical=False)
    _put_optional_results(w, d, canonical=False)
    w.varint(d["declaredAt"])


def get_declaration(r: Reader) -> dict:
    d = {"contestID": r.id32("contestID"), "revision": r.id32("revision")}
    _get_optional_results(r, r.varint("fields"), d, canonical=False)
    d["declaredAt"] = r.varint("declaredAt")
    return d


# ------------------------------------------------------------------------------- election definition

def definition_from_operator(op: dict) -> dict:
    """Operator election JSON -> the section 7.3 definition with raw wire numbers."""
    codes = [p["code"] for p in op["parties"]]
    region_ids = [g["id"] for g in op["regions"]]

    def previous(code):
        if code is None:
            return 0
        return 1 if code == "NOC" else codes.index(code) + 2

    contests = []
    for c in op["contests"]:
        contest = {
            "id": c["id"], "slug": c["slug"], "name": c["name"], "regionIndex": region_ids.index(c["region"]),
            "kind": {"council": 1, "mayoralty": 2}[c["kind"]],
            "totalSeats": c.get("totalSeats") or 0, "seatsUp": c.get("seatsUp") or 0,
            "previousControl": previous(c.get("controlBefore")),
            "candidates": [{"name": k["name"], "party": 0 if k["party"] is None else codes.index(k["party"]) + 1}
                           for k in (c.get("candidates") or [])],
        }
        if c.get("gssCode"):  # 1.1 details: an empty or missing code is none
            contest["gssCode"] = c["gssCode"]
        if c.get("seatsBefore") is not None:  # {code: seats}: ascending party index, zero counts left out
            contest["seatsBefore"] = sorted([codes.index(code), n] for code, n in c["seatsBefore"].items() if n > 0)
        contests.append(contest)
    d = {"id": op["id"], "name": op["name"], "date": op["date"],
         "parties": [{"code": p["code"], "name": p["name"], "flags": PARTY_GROUP if p.get("group") else 0}
                     for p in op["parties"]],
         "regions": [{"id": g["id"], "name": g["name"]} for g in op["regions"]],
         "contests": contests}
    if op.get("seatsBeforeNote"):  # 1.1; an empty note is no note
        d["seatsBeforeNote"] = op["seatsBeforeNote"]
    return d


def _has_detail(c: dict) -> bool:
    return "gssCode" in c or "seatsBefore" in c


def put_definition(w: Writer, d: dict):
    """Section 7.3: the core, then the 1.1 details section (7.3.1), empty when the definition has no details."""
    put_definition_core(w, d)
    put_details(w, d)


def put_details(w: Writer, d: dict):
    """In the dict shape, "seatsBeforeNote" is present only when not empty; "gssCode" and "seatsBefore" per contest."""
    any_detail = any(_has_detail(c) for c in d["contests"])
    w._ensure(d.get("seatsBeforeNote", None) != "", "an empty note is left out of the dict")
    w.string(d.get("seatsBeforeNote", ""), MAX_SEATS_BEFORE_NOTE, "seatsBeforeNote")
    w.count(len(d["contests"]) if any_detail else 0, 65535, "contestDetails")
    if not any_detail:
        return
    for c in d["contests"]:
        w.u8((DETAIL_GSS_CODE if "gssCode" in c else 0) | (DETAIL_SEATS_BEFORE if "seatsBefore" in c else 0))
        if "gssCode" in c:
            w._ensure(c["gssCode"] != "", "gssCode is 1..16 bytes")
            w.string(c["gssCode"], MAX_GSS_CODE, "gssCode")
        if "seatsBefore" in c:
            w._ensure(len(c["seatsBefore"]) >= 1, "seatsBefore has at least one entry")
            _put_party_counts(w, c["seatsBefore"], "seatsBefore", canonical=True, nonzero=True)


def put_definition_core(w: Writer, d: dict):
    w.string(d["id"], 64, "election id")
    w.string(d["name"], 256, "election name")
    w.string(d["date"], 32, "election date")
    w.count(len(d["parties"]), 1024, "parties")
    for p in d["parties"]:
        w.string(p["code"], 16, "party code")
        w.string(p["name"], 256, "party name")
        w._ensure(p["flags"] in (0, PARTY_GROUP), "party flags: only bit 0 (group) is defined")
        w.u8(p["flags"])
    w.count(len(d["regions"]), 1024, "regions")
    for g in d["regions"]:
        w.string(g["id"], 64, "region id")
        w.string(g["name"], 256, "region name")
    w.count(len(d["contests"]), 65535, "contests")
    for c in d["contests"]:
        w.id32(c["id"], "contest id")
        w.string(c["slug"], 64, "slug")
        w.string(c["name"], 256, "contest name")
        w.varint(c["regionIndex"])
        w.u8(c["kind"])
        w.varint(c["totalSeats"])
        w.varint(c["seatsUp"])
        w.varint(c["previousControl"])
        w.count(len(c["candidates"]), 64, "candidates")
        for k in c["candidates"]:
            w.string(k["name"], 256, "candidate name")
            w.varint(k["party"])


def get_definition(r: Reader) -> dict:
    """The whole definition when it ends the input: the core, then the details section if any bytes remain (a 1.0
    definition is the core alone)."""
    d = get_definition_core(r)
    if r.remaining():
        get_details(r, d)
    return d


def get_details(r: Reader, d: dict):
    """Section 7.3.1, after the core; sets d["seatsBeforeNote"] and the contests' gssCode / seatsBefore."""
    note = r.string(MAX_SEATS_BEFORE_NOTE, "seatsBeforeNote")
    n = r.count(65535, "contestDetails")
    if n not in (0, len(d["contests"])):
        raise ProtocolError("malformedFrame", f"contestDetails has {n} entries for {len(d['contests'])} contests")
    any_detail = False
    for c in d["contests"][:n]:
        fields = r.u8("contestDetail fields")
        if fields & ~(DETAIL_GSS_CODE | DETAIL_SEATS_BEFORE):
            raise ProtocolError("malformedFrame", f"contestDetail fields {fields:#x} has reserved bits")
        if fields & DETAIL_GSS_CODE:
            c["gssCode"] = r.string(MAX_GSS_CODE, "gssCode")
            if c["gssCode"] == "":
                raise ProtocolError("malformedFrame", "empty gssCode")
        if fields & DETAIL_SEATS_BEFORE:
            c["seatsBefore"] = _get_party_counts(r, "seatsBefore", canonical=True, nonzero=True)
            if not c["seatsBefore"] or any(p >= len(d["parties"]) for p, _ in c["seatsBefore"]):
                raise ProtocolError("malformedFrame", "seatsBefore is empty or names an unknown party")
        any_detail = any_detail or fields != 0
    if n and not any_detail:
        raise ProtocolError("malformedFrame", "contestDetails lists contests but none has a detail")
    if note:
        d["seatsBeforeNote"] = note


def get_definition_core(r: Reader) -> dict:
    d = {"id": r.string(64, "election id"), "name": r.string(256, "election name"),
         "date": r.string(32, "election date")}
    d["parties"] = []
    for _ in range(r.count(1024, "parties")):
        party = {"code": r.string(16, "party code"), "name": r.string(256, "party name"), "flags": r.u8("flags")}
        if party["flags"] & ~PARTY_GROUP:
            raise ProtocolError("malformedFrame", f"party {party['code']}: reserved flag bits {party['flags']:#x}")
        d["parties"].append(party)
    d["regions"] = [{"id": r.string(64, "region id"), "name": r.string(256, "region name")}
                    for _ in range(r.count(1024, "regions"))]
    n_parties, n_regions, seen, contests = len(d["parties"]), len(d["regions"]), set(), []
    for _ in range(r.count(65535, "contests")):
        c = {"id": r.id32("contest id"), "slug": r.string(64, "slug"), "name": r.string(256, "contest name"),
             "regionIndex": r.varint("regionIndex"), "kind": r.enum("kind", (1, 2)),
             "totalSeats": r.varint("totalSeats"), "seatsUp": r.varint("seatsUp"),
             "previousControl": r.varint("previousControl"), "candidates": []}
        if c["id"] in seen or c["regionIndex"] >= n_regions or c["previousControl"] > n_parties + 1:
            raise ProtocolError("malformedFrame", f"contest {c['id']}: duplicate id or unknown region/party")
        seen.add(c["id"])
        for _ in range(r.count(64, "candidates")):
            k = {"name": r.string(256, "candidate name"), "party": r.varint("candidate party")}
            if k["party"] > n_parties:
                raise ProtocolError("malformedFrame", f"candidate party {k['party']} unknown")
            c["candidates"].append(k)
        contests.append(c)
    d["contests"] = contests
    return d


def encode_definition(d: dict) -> bytes:
    """The whole 1.1 definition: core and details section."""
    w = Writer()
    put_definition(w, d)
    return w.bytes()


def encode_definition_core(d: dict) -> bytes:
    w = Writer()
    put_definition_core(w, d)
    return w.bytes()


def election_digest(d: dict) -> int:
    """Section 7.3: H of the core bytes (the 1.0 digest, unchanged by details)."""
    return H(encode_definition_core(d))


def definition_digest(d: dict) -> int:
    """Section 7.3.1: H of the whole definition, core and details section."""
    return H(encode_definition(d))


def preset_dictionary(d: dict) -> bytes:
    w = Writer()
    w.raw(bytes(range(64)))
    for g in d["regions"]:
        w.string(g["id"], 64, "region id")
    for p in d["parties"]:
        w.string(p["code"], 16, "party code")
    w.string("national", 64, "national")
    return w.bytes()[-DICTIONARY_MAX:]


# --------------------------------------------------------------------------- derived values (4.1, 7.2)

def derive_control(defn: dict, contest_id: int, seats) -> int:
    """Section 4.1 (1.1): a council's majority of the seats declared, never a group's; a mayoralty's winner's party,
    a group's included (an independent mayor holds the office)."""
    contest = next(c for c in defn["contests"] if c["id"] == contest_id)
    if contest["kind"] == 2:
        winners = [p for p, n in seats if n > 0]
        return winners[0] + 1 if len(winners) == 1 else 0
    total = sum(n for _, n in seats)  # equals totalSeats whenever that is known (the hub checks the sum)
    for p, n in seats:
        if 2 * n > total and not defn["parties"][p]["flags"] & PARTY_GROUP:  # a group never controls a council
            return p + 1
    return 0


def derive_outcome(previous_control: int, control: int) -> int:
    if previous_control == 0:
        return OUTCOME_UNKNOWN
    if previous_control == 1:
        return OUTCOME_NO_CHANGE if control == 0 else OUTCOME_GAIN
    if control == previous_control - 1:
        return OUTCOME_HOLD
    return OUTCOME_LOST_TO_NOC if control == 0 else OUTCOME_GAIN


def record_from_declaration(defn: dict, decl: dict, desk_id: str) -> dict:
    """The hub's record for an accepted declaration: zero seat and vote counts dropped (a vote list left empty is
    left out), lists sorted, control/outcome derived (sections 4.1, 7.2)."""
    contest = next(c for c in defn["contests"] if c["id"] == decl["contestID"])
    seats = sorted([p, n] for p, n in decl["seats"] if n > 0)
    control = derive_control(defn, decl["contestID"], seats)
    rec = {"contestID": decl["contestID"], "revision": decl["revision"], "status": "declared",
           "control": control, "outcome": derive_outcome(contest["previousControl"], control), "seats": seats}
    votes = sorted([p, n] for p, n in decl.get("votes", []) if n > 0)
    if votes:
        rec["votes"] = votes
    for key in ("turnout", "candidateVotes"):
        if key in decl:
            rec[key] = list(decl[key]) if key == "candidateVotes" else decl[key]
    rec["declaredAt"] = decl["declaredAt"]
    rec["deskID"] = desk_id
    return rec


def seat_changes(defn: dict, rec: dict):
    """Section 4.1 (1.1): a declared council's seats minus its composition before, the parties whose seats changed,
    ascending party index, as [party, change]; None when there is nothing to compare."""
    contest = next(c for c in defn["contests"] if c["id"] == rec["contestID"])
    if rec["status"] != "declared" or contest["kind"] != 1 or "seatsBefore" not in contest:
        return None
    change = {}
    for p, n in rec["seats"]:
        change[p] = change.get(p, 0) + n
    for p, n in contest["seatsBefore"]:
        change[p] = change.get(p, 0) - n
    return [[p, c] for p, c in sorted(change.items()) if c != 0]


def derive_scoreboard(defn: dict, records) -> dict:
    """Section 6.13 from the records (one per contest): every field but requestID and sequence."""
    by_id = {c["id"]: c for c in defn["contests"]}
    n = len(defn["parties"])
    keys = ("councils", "councilsChange", "councillors", "mayors", "councillorsCompared", "councillorsChange")
    rows = [dict.fromkeys(keys, 0) for _ in range(n)]
    out = {"contestsDeclared": 0, "contestsTotal": len(defn["contests"]), "noOverallControl": 0,
           "noOverallControlChange": 0, "councilsCompared": 0, "councilsNotCompared": 0}
    for rec in records:
        if rec["status"] != "declared":
            continue
        contest = by_id[rec["contestID"]]
        out["contestsDeclared"] += 1
        if contest["kind"] == 2:
            if rec["control"]:
                rows[rec["control"] - 1]["mayors"] += 1
            continue
        for p, seats in rec["seats"]:
            rows[p]["councillors"] += seats
        if rec["control"] == 0:
            out["noOverallControl"] += 1
        else:
            rows[rec["control"] - 1]["councils"] += 1
        before = contest["previousControl"]  # 0 unknown, 1 NOC, k + 2 party k
        if before and before - 1 != rec["control"]:
            if before == 1:
                out["noOverallControlChange"] -= 1
            else:
                rows[before - 2]["councilsChange"] -= 1
            if rec["control"] == 0:
                out["noOverallControlChange"] += 1
            else:
                rows[rec["control"] - 1]["councilsChange"] += 1
        changes = seat_changes(defn, rec)
        if changes is None:
            out["councilsNotCompared"] += 1
            continue
        out["councilsCompared"] += 1
        for p, seats in rec["seats"]:
            rows[p]["councillorsCompared"] += seats
        for p, c in changes:
            rows[p]["councillorsChange"] += c
    out["rows"] = [dict(partyIndex=p, **row) for p, row in enumerate(rows) if any(row.values())]
    return out


def apply_events(state: dict, events) -> dict:
    """state: contestID -> record. Applying an event replaces the contest's record."""
    out = dict(state)
    for ev in events:
        out[ev["record"]["contestID"]] = ev["record"]
    return out


# ------------------------------------------------------------------------------------------ messages

def _enc_hello(w, f):
    w.raw(MAGIC)
    w._ensure(1 <= f["minVersion"] <= f["maxVersion"], "1 <= minVersion <= maxVersion")
    w.varint(f["minVersion"])
    w.varint(f["maxVersion"])
    w.u8(f["role"])
    w.string(f["principal"], 64, "principal")
    w.string(f["secret"], 256, "secret")
    w._ensure(0 <= f["compression"] <= HELLO_COMPRESSION_KNOWN, "HELLO compression: only bits 0 and 1 are defined")
    w.u8(f["compression"])
    w.string(f["clientName"], 64, "clientName")


def _dec_hello(r):
    if r.take(4, "magic") != MAGIC:
        raise ProtocolError("notThisProtocol", "HELLO magic is not RHUB", detail="unknown")
    f = {"minVersion": r.varint("minVersion")}
    if f["minVersion"] == 0:
        raise ProtocolError("malformedFrame", "minVersion 0")
    f["maxVersion"] = r.varint("maxVersion")
    if f["minVersion"] > f["maxVersion"]:
        raise ProtocolError("malformedFrame", "minVersion > maxVersion")
    f["role"] = r.enum("role", (1, 2))
    f["principal"] = r.string(64, "principal")
    f["secret"] = r.string(256, "secret")
    # Unknown bits are masked off, not rejected: HELLO must parse across versions (sections 5 and 12). So a
    # HELLO with unknown bits decodes to fields that re-encode to different bytes (invalid.json, error "none").
    f["compression"] = r.u8("compression") & HELLO_COMPRESSION_KNOWN
    f["clientName"] = r.string(64, "clientName")
    return f


def _enc_welcome(w, f):
    w.varint(f["version"])
    w.string(f["hubName"], 64, "hubName")
    w.string(f["electionID"], 64, "electionID")
    w.u64(parse_u64(f["electionDigest"]))
    w.varint(f["latestSequence"])
    w.u8(f["compression"])
    w.varint(f["maxFrameLength"])
    w.varint(f["maxDecompressedLength"])
    w.varint(f["heartbeatIntervalMillis"])
    w.boolean(f["allRegions"])
    w._ensure(not (f["allRegions"] and f["regions"]), "regions must be empty with allRegions")
    w.count(len(f["regions"]), MAX_WELCOME_REGIONS, "regions")
    for g in f["regions"]:
        w.varint(g)
    if "definitionDigest" in f:  # 1.1
        w.u64(parse_u64(f["definitionDigest"]))
        if f.get("rehearsal"):  # 1.2: only a rehearsal hub sends it (SPEC 6.17)
            w.boolean(True)


def _dec_welcome(r):
    f = {"version": r.varint("version")}
    if f["version"] == 0:
        raise ProtocolError("malformedFrame", "version 0")
    f.update(hubName=r.string(64, "hubName"), electionID=r.string(64, "electionID"),
             electionDigest=u64hex(r.u64("electionDigest")), latestSequence=r.varint("latestSequence"),
             compression=r.enum("compression", (0, 1, 2)), maxFrameLength=r.varint("maxFrameLength"),
             maxDecompressedLength=r.varint("maxDecompressedLength"),
             heartbeatIntervalMillis=r.varint("heartbeatIntervalMillis"), allRegions=r.boolean("allRegions"))
    f["regions"] = [r.varint("region index") for _ in range(r.count(MAX_WELCOME_REGIONS, "regions"))]
    if f["allRegions"] and f["regions"]:
        raise ProtocolError("malformedFrame", "regions listed although allRegions is set")
    if r.remaining():  # 1.1; a 1.0 hub's WELCOME ends here
        f["definitionDigest"] = u64hex(r.u64("definitionDigest"))
        if r.remaining():  # 1.2: a rehearsal hub's marking (SPEC 6.17); absent is live data
            f["rehearsal"] = r.boolean("rehearsal")
    return f


def _enc_version_range(w, f):
    w._ensure(1 <= f["minVersion"] <= f["maxVersion"], "1 <= minVersion <= maxVersion")
    w.varint(f["minVersion"])
    w.varint(f["maxVersion"])
    w.string(f["message"], 1024, "message")


def _dec_version_range(r):
    f = {"minVersion": r.varint("minVersion"), "maxVersion": r.varint("maxVersion")}
    if not 1 <= f["minVersion"] <= f["maxVersion"]:
        raise ProtocolError("malformedFrame", "VERSION_RANGE needs 1 <= minVersion <= maxVersion")
    f["message"] = r.string(1024, "message")
    return f


def _enc_submit(w, f):
    w.varint(f["requestID"])
    put_declaration(w, f["declaration"])


def _dec_submit(r):
    return {"requestID": r.varint("requestID"), "declaration": get_declaration(r)}


def _enc_withdraw(w, f):
    w.varint(f["requestID"])
    w.id32(f["contestID"], "contestID")
    w.id32(f["revision"], "revision")
    w.varint(f["withdrawnAt"])
    w.string(f["reason"], 256, "reason")


def _dec_withdraw(r):
    return {"requestID": r.varint("requestID"), "contestID": r.id32("contestID"), "revision": r.id32("revision"),
            "withdrawnAt": r.varint("withdrawnAt"), "reason": r.string(256, "reason")}


def _enc_ack(w, f):
    w.varint(f["requestID"])
    w.varint(f["sequence"])
    w.boolean(f["duplicate"])
    w.id32(f["contestID"], "contestID")
    w.id32(f["revision"], "revision")
    w.u8(STATUS_CODES[f["status"]])
    w._ensure(f["status"] == "declared" or f["control"] == f["outcome"] == 0, "withdrawn ACK has control 0")
    w.varint(f["control"])
    w.u8(f["outcome"])


def _dec_ack(r):
    f = {"requestID": r.varint("requestID"), "sequence": r.varint("sequence"), "duplicate": r.boolean("duplicate"),
         "contestID": r.id32("contestID"), "revision": r.id32("revision"),
         "status": STATUS_NAMES[r.enum("status", STATUS_NAMES)], "control": r.bounded(MAX_CONTROL, "control"),
         "outcome": r.enum("outcome", range(5))}
    if f["status"] == "withdrawn" and (f["control"] or f["outcome"]):
        raise ProtocolError("malformedFrame", "a withdrawn ACK carries control 0 and outcome 0")
    return f


def _enc_reject(w, f):
    w.varint(f["requestID"])
    w.u16(f["code"])
    w.string(f["message"], 1024, "message")


def _dec_reject(r):
    return {"requestID": r.varint("requestID"), "code": r.u16("code"), "message": r.string(1024, "message")}


def _enc_subscribe(w, f):
    w.u8(f["filterKind"])
    if f["filterKind"] == 1:
        w._ensure(len(f["regions"]) >= 1, "a region filter names 1..64 regions")
        w.count(len(f["regions"]), MAX_FILTER_REGIONS, "regions")
        for g in f["regions"]:
            w.varint(g)
    elif f["filterKind"] == 2:
        w.u8(f["contestKind"])
    w.boolean(f["resume"])
    if f["resume"]:
        w.varint(f["fromSequence"])


def _dec_subscribe(r):
    f = {"filterKind": r.enum("filterKind", (0, 1, 2))}
    if f["filterKind"] == 1:
        n = r.count(MAX_FILTER_REGIONS, "regions")
        if n == 0:
            raise ProtocolError("malformedFrame", "a region filter names 1..64 regions")
        f["regions"] = [r.varint("region index") for _ in range(n)]
    elif f["filterKind"] == 2:
        f["contestKind"] = r.enum("contestKind", (1, 2))
    f["resume"] = r.boolean("resume")
    if f["resume"]:
        f["fromSequence"] = r.varint("fromSequence")
    return f


def _enc_snapshot(w, f):
    w.varint(f["sequence"])
    w.u8(f["reason"])
    w.count(len(f["contests"]), MAX_SNAPSHOT_RECORDS, "contests")
    previous = 0
    for rec in f["contests"]:
        w._ensure(rec["contestID"] > previous, "snapshot records in ascending contest id")
        previous = rec["contestID"]
        put_record(w, rec)
    w.u64(parse_u64(f["checksum"]))
    if f.get("rehearsal"):  # 1.2: only a rehearsal hub sends it (SPEC 6.17)
        w.boolean(True)


def _dec_snapshot(r, verify=True):
    f = {"sequence": r.varint("sequence"), "reason": r.enum("reason", (1, 2, 3)), "contests": []}
    for _ in range(r.count(MAX_SNAPSHOT_RECORDS, "contests")):
        rec = get_record(r)
        if f["contests"] and rec["contestID"] <= f["contests"][-1]["contestID"]:
            raise ProtocolError("malformedFrame", "snapshot records not in strictly ascending contest id")
        f["contests"].append(rec)
    checksum = r.u64("checksum")
    f["checksum"] = u64hex(checksum)
    if verify and checksum != state_checksum(f["contests"]):
        raise ProtocolError("checksumMismatch", f"snapshot checksum {f['checksum']} is not its records' "
                                                f"{u64hex(state_checksum(f['contests']))}")
    if r.remaining():  # 1.2: a rehearsal hub's marking (SPEC 6.17); absent is live data
        f["rehearsal"] = r.boolean("rehearsal")
    return f


def _enc_delta_batch(w, f):
    first, last = f["firstSequence"], f["lastSequence"]
    w._ensure(1 <= first <= last, "1 <= firstSequence <= lastSequence")
    w.varint(first)
    w.varint(last)
    w.boolean(f["conflated"])
    w.count(len(f["events"]), MAX_EVENTS, "events")
    previous = first - 1
    for ev in f["events"]:
        w._ensure(previous < ev["sequence"] <= last, "events in ascending sequence within the range")
        previous = ev["sequence"]
        w.varint(ev["sequence"] - first)
        put_record(w, ev["record"])
    w.u64(parse_u64(f["checksum"]))
    if f.get("rehearsal"):  # 1.2: only a rehearsal hub sends it (SPEC 6.17)
        w.boolean(True)


def _dec_delta_batch(r):
    f = {"firstSequence": r.varint("firstSequence"), "lastSequence": r.varint("lastSequence")}
    if not 1 <= f["firstSequence"] <= f["lastSequence"]:
        raise ProtocolError("malformedFrame", "DELTA_BATCH needs 1 <= firstSequence <= lastSequence")
    f["conflated"] = r.boolean("conflated")
    f["events"] = []
    span = f["lastSequence"] - f["firstSequence"]
    for _ in range(r.count(MAX_EVENTS, "events")):
        offset = r.varint("sequenceOffset")
        if offset > span or (f["events"] and f["firstSequence"] + offset <= f["events"][-1]["sequence"]):
            raise ProtocolError("malformedFrame", "event sequence outside the range or not ascending")
        f["events"].append({"sequence": f["firstSequence"] + offset, "record": get_record(r)})
    f["checksum"] = u64hex(r.u64("checksum"))
    if r.remaining():  # 1.2: a rehearsal hub's marking (SPEC 6.17); absent is live data
        f["rehearsal"] = r.boolean("rehearsal")
    return f


def _enc_heartbeat(w, f):
    w.varint(f["sequence"])


def _dec_heartbeat(r):
    return {"sequence": r.varint("sequence")}


def _enc_query(w, f):
    w.varint(f["requestID"])
    w.u8(f["kind"])
    if f["kind"] == 2:
        w.id32(f["contestID"], "contestID")


def _dec_query(r):
    f = {"requestID": r.varint("requestID"), "kind": r.enum("kind", (1, 2, 3))}
    if f["kind"] == 2:
        f["contestID"] = r.id32("contestID")
    return f


_ROW_KEYS = ("partyIndex", "councils", "councilsChange", "councillors", "mayors")


def _enc_scoreboard(w, f):
    for key in ("requestID", "sequence", "contestsDeclared", "contestsTotal", "noOverallControl"):
        w.varint(f[key])
    w.svarint(f["noOverallControlChange"])
    w.count(len(f["rows"]), MAX_SCOREBOARD_ROWS, "rows")
    previous = -1
    for row in f["rows"]:
        w._ensure(row["partyIndex"] > previous, "rows in ascending party index")
        previous = row["partyIndex"]
        w.varint(row["partyIndex"])
        w.varint(row["councils"])
        w.svarint(row["councilsChange"])
        w.varint(row["councillors"])
        w.varint(row["mayors"])
    if "councilsCompared" in f:  # 1.1: the councillor comparison; the rows carry their councillorRow's two fields
        w.varint(f["councilsCompared"])
        w.varint(f["councilsNotCompared"])
        w.count(len(f["rows"]), MAX_SCOREBOARD_ROWS, "councillorRows")
        for row in f["rows"]:
            w.varint(row["councillorsCompared"])
            w._ensure(abs(row["councillorsChange"]) <= MAX_CHANGE, "councillorsChange within ±(2^32-1)")
            w.svarint(row["councillorsChange"])
    if f.get("rehearsal"):  # 1.2: only a rehearsal hub sends it, after the 1.1 fields (SPEC 6.17)
        w._ensure("councilsCompared" in f, "the rehearsal marking follows the 1.1 fields")
        w.boolean(True)


def _dec_scoreboard(r):
    f = {key: r.varint(key) for key in ("requestID", "sequence", "contestsDeclared", "contestsTotal",
                                         "noOverallControl")}
    f["noOverallControlChange"] = r.svarint("noOverallControlChange")
    f["rows"] = []
    for _ in range(r.count(MAX_SCOREBOARD_ROWS, "rows")):
        row = {"partyIndex": r.varint("partyIndex"), "councils": r.varint("councils"),
               "councilsChange": r.svarint("councilsChange"), "councillors": r.varint("councillors"),
               "mayors": r.varint("mayors")}
        if f["rows"] and row["partyIndex"] <= f["rows"][-1]["partyIndex"]:
            raise ProtocolError("malformedFrame", "scoreboard rows not in strictly ascending party index")
        f["rows"].append(row)
    if r.remaining():  # 1.1; a 1.0 hub's SCOREBOARD ends here
        f["councilsCompared"] = r.bounded(ID_MAX, "councilsCompared")
        f["councilsNotCompared"] = r.bounded(ID_MAX, "councilsNotCompared")
        n = r.count(MAX_SCOREBOARD_ROWS, "councillorRows")
        if n != len(f["rows"]):
            raise ProtocolError("malformedFrame", f"councillorRows has {n} entries for {len(f['rows'])} rows")
        for row in f["rows"]:
            row["councillorsCompared"] = r.bounded(ID_MAX, "councillorsCompared")
            row["councillorsChange"] = r.change("councillorsChange")
    if r.remaining():  # 1.2: a rehearsal hub's marking (SPEC 6.17); absent is live data
        f["rehearsal"] = r.boolean("rehearsal")
    return f


def _enc_contest(w, f):
    w.varint(f["requestID"])
    w.varint(f["sequence"])
    w.boolean(f["present"])
    if f["present"]:
        put_record(w, f["record"])
    if "seatChangesKnown" in f:  # 1.1
        w.boolean(f["seatChangesKnown"])
        if f["seatChangesKnown"]:
            w.count(len(f["seatChanges"]), MAX_SEAT_CHANGES, "seatChanges")
            previous = -1
            for p, c in f["seatChanges"]:
                w._ensure(p > previous and c != 0, "seatChanges: ascending party index, no zero change")
                previous = p
                w.varint(p)
                w.svarint(c)
    if f.get("rehearsal"):  # 1.2: only a rehearsal hub sends it, after the 1.1 fields (SPEC 6.17)
        w._ensure("seatChangesKnown" in f, "the rehearsal marking follows the 1.1 fields")
        w.boolean(True)


def _dec_contest(r):
    f = {"requestID": r.varint("requestID"), "sequence": r.varint("sequence"), "present": r.boolean("present")}
    if f["present"]:
        f["record"] = get_record(r)
    if r.remaining():  # 1.1; a 1.0 hub's CONTEST ends here
        f["seatChangesKnown"] = r.boolean("seatChangesKnown")
        if f["seatChangesKnown"]:
            f["seatChanges"] = []
            for _ in range(r.count(MAX_SEAT_CHANGES, "seatChanges")):
                p, c = r.varint("seatChange party index"), r.change("seatChange change")
                if (f["seatChanges"] and p <= f["seatChanges"][-1][0]) or c == 0:
                    raise ProtocolError("malformedFrame", "seatChanges not ascending, or a zero change")
                f["seatChanges"].append([p, c])
    if r.remaining():  # 1.2: a rehearsal hub's marking (SPEC 6.17); absent is live data
        f["rehearsal"] = r.boolean("rehearsal")
    return f


def _enc_election(w, f):
    w.varint(f["requestID"])
    w.u64(parse_u64(f["digest"]))
    if "definitionDigest" in f:  # 1.1: the details section, then the definition digest
        put_definition(w, f["definition"])
        w.u64(parse_u64(f["definitionDigest"]))
    else:  # the 1.0 form: the core alone (a definition with details cannot be sent so)
        w._ensure("seatsBeforeNote" not in f["definition"] and not any(_has_detail(c) for c in
                                                                     f["definition"]["contests"]),
                  "a 1.0 ELECTION cannot carry details")
        put_definition_core(w, f["definition"])


def _dec_election(r, verify=True):
    f = {"requestID": r.varint("requestID"), "digest": u64hex(r.u64("digest"))}
    start = r.pos
    f["definition"] = get_definition_core(r)
    if verify and parse_u64(f["digest"]) != H(r.data[start:r.pos]):
        raise ProtocolError("checksumMismatch", "ELECTION digest is not H of the definition")
    if r.remaining():  # 1.1: the details section and the definition digest; a 1.0 hub's ends here
        get_details(r, f["definition"])
        end = r.pos
        f["definitionDigest"] = u64hex(r.u64("definitionDigest"))
        if verify and parse_u64(f["definitionDigest"]) != H(r.data[start:end]):
            raise ProtocolError("checksumMismatch", "ELECTION definitionDigest is not H of the whole definition")
    return f


def _enc_goodbye(w, f):
    w.u16(f["code"])
    w.string(f["message"], 1024, "message")
    w.varint(f["lastSequence"])
    if "leader" in f:  # 1.3: only a hub that turns a desk away to the leader sends it (SPEC 6.18)
        w.string(f["leader"], MAX_ADDRESS, "leader")


def _dec_goodbye(r):
    f = {"code": r.u16("code"), "message": r.string(1024, "message"), "lastSequence": r.varint("lastSequence")}
    if r.remaining():  # 1.3: the leader to go to (SPEC 6.18), "" when none is known; absent is no redirect
        f["leader"] = r.string(MAX_ADDRESS, "leader")
    return f


CODECS = {
    "HELLO": (_enc_hello, _dec_hello), "WELCOME": (_enc_welcome, _dec_welcome),
    "VERSION_RANGE": (_enc_version_range, _dec_version_range), "SUBMIT": (_enc_submit, _dec_submit),
    "WITHDRAW": (_enc_withdraw, _dec_withdraw), "ACK": (_enc_ack, _dec_ack), "REJECT": (_enc_reject, _dec_reject),
    "SUBSCRIBE": (_enc_subscribe, _dec_subscribe), "SNAPSHOT": (_enc_snapshot, _dec_snapshot),
    "DELTA_BATCH": (_enc_delta_batch, _dec_delta_batch), "HEARTBEAT": (_enc_heartbeat, _dec_heartbeat),
    "QUERY": (_enc_query, _dec_query), "SCOREBOARD": (_enc_scoreboard, _dec_scoreboard),
    "CONTEST": (_enc_contest, _dec_contest), "ELECTION": (_enc_election, _dec_election),
    "GOODBYE": (_enc_goodbye, _dec_goodbye),
}


def encode_payload(type_name: str, fields: dict) -> bytes:
    w = Writer()
    CODECS[type_name][0](w, fields)
    return w.bytes()


def decode_payload(type_name: str, payload: bytes, verify: bool = True) -> dict:
    """Trailing bytes after the last known field are ignored (section 2.1)."""
    decoder = CODECS[type_name][1]
    r = Reader(payload)
    if type_name in ("SNAPSHOT", "ELECTION"):
        return decoder(r, verify)
    return decoder(r)


# -------------------------------------------------------------------------------------- compression

def compress(payload: bytes, fmt: str, dictionary: bytes) -> bytes:
    """A compressed payload (section 8): uncompressedLength varint, then deflate/zlib with the dictionary."""
    wbits = {"deflate": -15, "zlib": 15}[fmt]
    c = zlib.compressobj(6, zlib.DEFLATED, wbits, 8, zlib.Z_DEFAULT_STRATEGY, zdict=dictionary)
    return encode_varint(len(payload)) + c.compress(payload) + c.flush()


def decompress(body: bytes, fmt: str, dictionary: bytes, limit: int = MAX_DECOMPRESSED) -> bytes:
    r = Reader(body)
    n = r.varint("uncompressedLength")
    if n > limit:
        raise ProtocolError("decompressedTooLarge", f"uncompressedLength {n} > {limit}")
    data = body[r.pos:]
    if fmt == "zlib":  # the DICTID must name this dictionary (a stream without one is refused too)
        if len(data) < 6 or not data[1] & 0x20 or data[2:6] != struct.pack(">I", zlib.adler32(dictionary)):
            raise ProtocolError("decompressionFailed", "zlib header does not name the preset dictionary")
    try:
        d = zlib.decompressobj({"deflate": -15, "zlib": 15}[fmt], zdict=dictionary)
        out, tail = bytearray(), data
        while True:
            want = n - len(out)
            chunk = d.decompress(tail, want if want > 0 else 1)  # never inflate past n (+1 to detect a lie)
            if len(out) + len(chunk) > n:
                raise ProtocolError("decompressionFailed", f"inflates to more than {n} bytes")
            out += chunk
            if d.eof:
                break
            if not chunk and (not d.unconsumed_tail or d.unconsumed_tail == tail):
                raise ProtocolError("decompressionFailed", "compressed stream ends early")
            tail = d.unconsumed_tail
    except zlib.error as e:
        raise ProtocolError("decompressionFailed", f"corrupt stream: {e}") from None
    if d.unused_data:
        raise ProtocolError("decompressionFailed", "bytes after the end of the compressed stream")
    if len(out) != n:
        raise ProtocolError("decompressionFailed", f"inflates to {len(out)} bytes, not {n}")
    return bytes(out)


# ------------------------------------------------------------------------------------------- frames

def encode_frame(type_name: str, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">IBB", len(payload) + 2, TYPE_CODES[type_name], flags) + payload


def encode_message(type_name: str, fields: dict, fmt: str | None = None, dictionary: bytes | None = None) -> bytes:
    payload = encode_payload(type_name, fields)
    if fmt is None:
        return encode_frame(type_name, payload)
    return encode_frame(type_name, compress(payload, fmt, dictionary), flags=0x01)


def split_frame(data: bytes, state: str) -> tuple[int, int, bytes, int]:
    """Section 1 and 1.1: one frame from the start of data -> (type, flags, raw payload, bytes used).
    state "preHandshake" means data is what a connection sent first (before WELCOME)."""
    if state == "preHandshake":
        if data[:1] and 0x41 <= data[0] <= 0x5A:
            raise ProtocolError("notThisProtocol", "an HTTP request", detail="http")
        if data[:2] == b"\x16\x03":
            raise ProtocolError("notThisProtocol", "a TLS ClientHello", detail="tls")
    limit = PRE_HANDSHAKE_MAX_FRAME if state == "preHandshake" else ESTABLISHED_MAX_FRAME
    if len(data) < 4:
        raise ProtocolError("truncated", "length prefix incomplete")
    length = struct.unpack(">I", data[:4])[0]
    if length < 2:
        raise ProtocolError("malformedFrame", f"frame length {length} < 2")
    if length > limit:
        raise ProtocolError("frameTooLarge", f"frame length {length} > {limit}")
    if len(data) < 4 + length:
        raise ProtocolError("truncated", f"frame needs {length} bytes, {len(data) - 4} present")
    type_code, flags = data[4], data[5]
    if type_code not in MESSAGE_TYPES:
        raise ProtocolError("unknownMessageType", f"type {type_code:#04x}")
    if flags & 0xFE:
        raise ProtocolError("malformedFrame", f"reserved flag bits {flags:#04x}")
    return type_code, flags, data[6:4 + length], 4 + length


def decode_frame(data: bytes, state: str = "established", fmt: str | None = None,
                 dictionary: bytes | None = None, verify: bool = True) -> tuple[str, int, dict, int]:
    """Whole receive path for one frame -> (type name, flags, fields, bytes used). fmt is the compression
    format named in WELCOME ("deflate", "zlib" or None)."""
    type_code, flags, payload, used = split_frame(data, state)
    if flags & 0x01:
        if state == "preHandshake" or fmt is None:
            raise ProtocolError("malformedFrame", "compressed frame without negotiated compression")
        payload = decompress(payload, fmt, dictionary)
    type_name = MESSAGE_TYPES[type_code]
    return type_name, flags, decode_payload(type_name, payload, verify), used


def hub_answer_to_hello(hello: dict, hub_min: int = 1, hub_max: int = PROTOCOL_VERSION):
    """Version negotiation (section 5): the chosen version, or the VERSION_RANGE frame to send."""
    version = min(hub_max, hello["maxVersion"])
    if version >= max(hub_min, hello["minVersion"]):
        return version
    return encode_message("VERSION_RANGE", {
        "minVersion": hub_min, "maxVersion": hub_max,
        "message": f"this hub speaks ResultsHub protocol versions {hub_min} to {hub_max}"})
