#!/usr/bin/env python3
"""Write Protocol/vectors/*.json from the independent reference codec (resultshub_v1.py).

Python 3.11, standard library only. Deterministic: fixed inputs and a fixed random seed, json with indent=1 and
a trailing newline, so a rerun gives identical bytes. Every vector's bytes are computed by the codec from its
fields and decoded back (and compared) before anything is written.

    python3 Tools/vectors/generate_vectors.py [--out Protocol/vectors]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import zlib
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import resultshub_v1 as rh  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
SEED = 20230504


def ms(text: str) -> int:
    """ISO 8601 UTC timestamp -> milliseconds since the Unix epoch."""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


# --------------------------------------------------------------------------------------- the election

ELECTION_SMALL = {
    "id": "small-2023",
    "name": "ResultsHub test election (fictional)",
    "date": "2023-05-04",
    "sources": "Invented for the protocol test vectors; no real places or results.",
    "parties": [{"code": "CON", "name": "Conservative"}, {"code": "LAB", "name": "Labour"},
                {"code": "LD", "name": "Liberal Democrats"}],
    "regions": [{"id": "north", "name": "North"}, {"id": "south", "name": "South"}],
    "contests": [
        {"id": 1, "slug": "ambridge", "name": "Ambridge", "region": "south", "kind": "council",
         "councilType": "district", "totalSeats": 47, "seatsUp": 47, "controlBefore": "CON"},
        {"id": 2, "slug": "borchester", "name": "Borchester", "region": "north", "kind": "council",
         "councilType": "metropolitan", "totalSeats": 60, "seatsUp": 20, "controlBefore": "NOC"},
        {"id": 3, "slug": "casterbridge", "name": "Casterbridge", "region": "north", "kind": "council",
         "councilType": "unitary", "totalSeats": None, "seatsUp": None, "controlBefore": None},
        {"id": 4, "slug": "mayor-of-dunmore", "name": "Mayor of Dunmore", "region": "south", "kind": "mayoralty",
         "controlBefore": "LAB", "candidates": [{"name": "Alice Brown", "party": "CON"},
                                                {"name": "Bob Green", "party": "LAB"},
                                                {"name": "Carol Whyte", "party": None}]},
    ],
}
DEFN = rh.definition_from_operator(ELECTION_SMALL)
DIGEST = rh.u64hex(rh.election_digest(DEFN))
DICTIONARY = rh.preset_dictionary(DEFN)
SMALL_DEFINITION_DIGEST = rh.u64hex(rh.definition_digest(DEFN))  # 1.1: core and an empty details section

# Specification 1.1: election-small with details (7.3.1). The core is election-small's, so its election digest is
# too; only the definition digest differs. Casterbridge has no composition before, and the mayoralty cannot have one.
ELECTION_SMALL_DETAILS = json.loads(json.dumps(ELECTION_SMALL))
ELECTION_SMALL_DETAILS["sources"] = ("Invented for the protocol test vectors; no real places or results. The "
                                     "compositions before are invented too.")
ELECTION_SMALL_DETAILS["seatsBeforeNote"] = "Each council's make-up a year before the poll (invented)."
for contest, gss, before in ((0, "E07000901", {"CON": 30, "LAB": 10, "LD": 7}),
                             (1, "E08000902", {"CON": 24, "LAB": 27, "LD": 9}),
                             (2, "E06000903", None), (3, "E06000904", None)):
    ELECTION_SMALL_DETAILS["contests"][contest]["gssCode"] = gss
    if before is not None:
        ELECTION_SMALL_DETAILS["contests"][contest]["seatsBefore"] = before
DEFN_DETAILS = rh.definition_from_operator(ELECTION_SMALL_DETAILS)
assert rh.election_digest(DEFN_DETAILS) == rh.election_digest(DEFN)
DETAILS_DIGEST = rh.u64hex(rh.definition_digest(DEFN_DETAILS))
assert DETAILS_DIGEST != DIGEST

# Declarations for election-small (party 0 CON, 1 LAB, 2 LD), and the records the hub derives from them.
D_AMBRIDGE_1 = {"contestID": 1, "revision": 1, "seats": [[1, 18], [0, 20], [2, 9]],
                "votes": [[0, 14872], [1, 13904], [2, 7215]], "turnout": 3120, "declaredAt": ms("2023-05-05T02:14:31")}
D_AMBRIDGE_2 = {"contestID": 1, "revision": 2, "seats": [[0, 24], [1, 14], [2, 9]],
                "votes": [[0, 15090], [1, 13686], [2, 7215]], "turnout": 3120, "declaredAt": ms("2023-05-05T09:02:00")}
D_BORCHESTER_2 = {"contestID": 2, "revision": 2, "seats": [[1, 31], [0, 20], [2, 9]],
                  "declaredAt": ms("2023-05-05T03:40:12")}

D_CASTERBRIDGE_1 = {"contestID": 3, "revision": 1, "seats": [[2, 12], [0, 5], [1, 0]],
                    "declaredAt": ms("2023-05-05T04:05:59")}
D_MAYOR_1 = {"contestID": 4, "revision": 1, "seats": [[0, 1]], "turnout": 2775,
             "candidateVotes": [10956, 10196, 3102], "declaredAt": ms("2023-05-05T14:30:00")}

R_AMBRIDGE_1 = rh.record_from_declaration(DEFN, D_AMBRIDGE_1, "south")          # NOC, lostToNoOverallControl
R_AMBRIDGE_2 = rh.record_from_declaration(DEFN, D_AMBRIDGE_2, "south")          # CON hold
R_BORCHESTER_2 = rh.record_from_declaration(DEFN, D_BORCHESTER_2, "north")      # LAB gain from NOC
R_CASTERBRIDGE_1 = rh.record_from_declaration(DEFN, D_CASTERBRIDGE_1, "north")  # LD win, before unknown
R_MAYOR_1 = rh.record_from_declaration(DEFN, D_MAYOR_1, "national")             # CON gain from LAB
R_CASTERBRIDGE_W = {"contestID": 3, "revision": 2, "status": "withdrawn", "withdrawnAt": ms("2023-05-05T05:00:00"),
                    "deskID": "north", "reason": "declared in error: ward 7 recount"}
assert (R_AMBRIDGE_1["control"], R_AMBRIDGE_1["outcome"]) == (0, rh.OUTCOME_LOST_TO_NOC)
assert (R_AMBRIDGE_2["control"], R_AMBRIDGE_2["outcome"]) == (1, rh.OUTCOME_HOLD)
assert (R_BORCHESTER_2["control"], R_BORCHESTER_2["outcome"]) == (2, rh.OUTCOME_GAIN)
assert (R_CASTERBRIDGE_1["control"], R_CASTERBRIDGE_1["outcome"]) == (3, rh.OUTCOME_UNKNOWN)
assert (R_MAYOR_1["control"], R_MAYOR_1["outcome"]) == (1, rh.OUTCOME_GAIN)


# election-small plus a 4th party marked as a group (definition party flags bit 0), for the ELECTION vectors; its
# third mayoral candidate, Carol Whyte, stands for the group.
DEFN_GROUP = json.loads(json.dumps(DEFN))
DEFN_GROUP["id"] = "small-2023-group"
DEFN_GROUP["parties"].append({"code": "IND", "name": "Independents and others", "flags": rh.PARTY_GROUP})
DEFN_GROUP["contests"][3]["candidates"][2]["party"] = 4
assert rh.derive_control(DEFN_GROUP, 1, [[0, 10], [3, 37]]) == 0  # a group majority is no overall control
assert rh.derive_control(DEFN_GROUP, 1, [[0, 37], [3, 10]]) == 1
assert rh.derive_control(DEFN_GROUP, 4, [[3, 1]]) == 4  # a mayoralty won by the group's candidate is the group's


def checksum_of(records) -> str:
    return rh.u64hex(rh.state_checksum(records))


def batch(first, last, events, base=None, conflated=False) -> dict:
    """A DELTA_BATCH whose checksum is that of `base` (records, default empty) after the events."""
    state = rh.apply_events({r["contestID"]: r for r in (base or [])}, events)
    return {"firstSequence": first, "lastSequence": last, "conflated": conflated, "events": events,
            "checksum": checksum_of(state.values())}


SNAPSHOT_THREE = {"sequence": 7, "reason": 1, "contests": [R_AMBRIDGE_1, R_BORCHESTER_2, R_CASTERBRIDGE_W],
                  "checksum": checksum_of([R_AMBRIDGE_1, R_BORCHESTER_2, R_CASTERBRIDGE_W])}


# --------------------------------------------------------------------------------------- messages.json

WELCOME_11 = {"version": 1, "hubName": "ResultsHub newsroom", "electionID": "small-2023",
              "electionDigest": DIGEST, "latestSequence": 1234, "compression": 2, "maxFrameLength": 1048576,
              "maxDecompressedLength": 4194304, "heartbeatIntervalMillis": 15000, "allRegions": False,
              "regions": [1], "definitionDigest": SMALL_DEFINITION_DIGEST}
SCOREBOARD_ROWS_11 = [
    {"partyIndex": 0, "councils": 1, "councilsChange": 0, "councillors": 49, "mayors": 1,
     "councillorsCompared": 44, "councillorsChange": -10},
    {"partyIndex": 1, "councils": 1, "councilsChange": 1, "councillors": 45, "mayors": 0,
     "councillorsCompared": 45, "councillorsChange": 8},
    {"partyIndex": 2, "councils": 0, "councilsChange": -2, "councillors": 18, "mayors": 0,
     "councillorsCompared": 9, "councillorsChange": 2}]
SCOREBOARD_11 = {"requestID": 5, "sequence": 1234, "contestsDeclared": 3, "contestsTotal": 4, "noOverallControl": 0,
                 "noOverallControlChange": -1, "rows": SCOREBOARD_ROWS_11, "councilsCompared": 2,
                 "councilsNotCompared": 1}
# snapshot-three-records followed by delta-batch-after-snapshot: Ambridge 2, Borchester 2, Casterbridge withdrawn,
# the mayoralty.
STATE_AFTER_BATCH = [R_AMBRIDGE_2, R_BORCHESTER_2, R_CASTERBRIDGE_W, R_MAYOR_1]
SCOREBOARD_DERIVED = rh.derive_scoreboard(DEFN_DETAILS, STATE_AFTER_BATCH)
# Specification 1.3 (SPEC 6.18): a follower hub's GOODBYE to a desk, naming the leader.
GOODBYE_LEADER = {"code": 4, "message": "this hub is a follower and takes no submissions: submit to the leader at "
                  "10.0.0.5:7400", "lastSequence": 1234, "leader": "10.0.0.5:7400"}


def without_11(type_name: str, fields: dict) -> dict:
    """The 1.0 form of a message's fields: the 1.1 fields (and the 1.2 marking) left out (what a 1.0 hub sends)."""
    out = json.loads(json.dumps(fields))
    out.pop("rehearsal", None)
    if type_name == "WELCOME":
        out.pop("definitionDigest")
    elif type_name == "SCOREBOARD":
        out.pop("councilsCompared")
        out.pop("councilsNotCompared")
        for row in out["rows"]:
            row.pop("councillorsCompared")
            row.pop("councillorsChange")
    elif type_name == "CONTEST":
        out.pop("seatChangesKnown")
        out.pop("seatChanges", None)
    elif type_name == "ELECTION":  # only a definition without details can be sent in the 1.0 form
        out.pop("definitionDigest")
    return out


def message_vectors() -> list:
    v = []

    def add(name, type_name, fields, description, base=None):
        entry = {"name": name, "description": description, "type": type_name, "flags": 0, "hex": None,
                 "fields": fields}
        if base:
            entry["baseSnapshot"] = base
        v.append(entry)

    add("hello-desk", "HELLO", {"minVersion": 1, "maxVersion": 1, "role": 1, "principal": "north",
                                "secret": "tok-7f3a9c1e", "compression": 3, "clientName": "reporter/1.0"},
        "A desk's HELLO offering zlib and raw deflate.")
    add("hello-subscriber", "HELLO", {"minVersion": 1, "maxVersion": 3, "role": 2, "principal": "graphics-wall",
                                      "secret": "", "compression": 0, "clientName": "wall/2.1 (Ynys Môn)"},
        "A subscriber's HELLO: versions 1..3, no key, no compression, a non-ASCII client name.")
    welcome = WELCOME_11
    add("welcome-desk-regions", "WELCOME", welcome,
        "WELCOME to a desk that may submit for region 1 only; raw deflate; the digest of election-small and (1.1) "
        "its definition digest (core and an empty details section).")
    add("welcome-desk-all-regions", "WELCOME", dict(welcome, allRegions=True, regions=[], compression=1,
                                                    latestSequence=0),
        "WELCOME to a desk that may submit for every region; zlib; no events yet.")
    add("welcome-subscriber", "WELCOME", dict(welcome, compression=0, regions=[], definitionDigest=DETAILS_DIGEST),
        "WELCOME to a subscriber from a hub serving election-small-details: no compression, no regions; the "
        "election digest is election-small's (the same core), the definition digest (1.1) covers the details.")
    add("version-range", "VERSION_RANGE", {"minVersion": 1, "maxVersion": 1,
                                           "message": "this hub speaks ResultsHub protocol versions 1 to 1"},
        "The answer to a HELLO whose version range does not overlap 1..1.")
    add("submit-council-six-parties", "SUBMIT", {"requestID": 17, "declaration": {
        "contestID": 123, "revision": 1, "seats": [[3, 2], [0, 20], [1, 18], [2, 5], [4, 2], [5, 0]],
        "votes": [[1, 21034], [0, 24811], [2, 9120], [3, 3208], [4, 2650], [5, 388]], "turnout": 3120,
        "declaredAt": ms("2023-05-05T02:14:31")}},
        "A council declaration with 6 parties (party indexes 0..5 of a 6-party election, not election-small), "
        "lists in submitted order with a zero count, votes and turnout 31.20%.")
    add("submit-minimal", "SUBMIT", {"requestID": 0, "declaration": {
        "contestID": 3, "revision": 1, "seats": [[2, 12]], "declaredAt": ms("2023-05-05T04:05:59")}},
        "A declaration with no optional fields (fields = 0).")
    add("submit-mayoralty", "SUBMIT", {"requestID": 18, "declaration": D_MAYOR_1},
        "Mayor of Dunmore (election-small): one seat for CON, candidate votes in candidate order, turnout.")
    add("withdraw", "WITHDRAW", {"requestID": 19, "contestID": 3, "revision": 2,
                                 "withdrawnAt": ms("2023-05-05T05:00:00"),
                                 "reason": "declared in error: ward 7 recount"},
        "Withdraw Casterbridge's revision-1 result with revision 2.")
    ack = {"requestID": 17, "sequence": 1235, "duplicate": False, "contestID": 1, "revision": 2,
           "status": "declared", "control": 1, "outcome": 1}
    add("ack", "ACK", ack, "ACK of a correction: CON hold Ambridge.")
    add("ack-duplicate", "ACK", dict(ack, duplicate=True), "ACK of a resubmission: the original sequence, duplicate.")
    add("ack-withdrawn", "ACK", {"requestID": 19, "sequence": 1236, "duplicate": False, "contestID": 3,
                                 "revision": 2, "status": "withdrawn", "control": 0, "outcome": 0},
        "ACK of a withdrawal: control and outcome 0.")
    add("reject", "REJECT", {"requestID": 42, "code": 102,
                             "message": "Ambridge: seats add up to 45, the council has 47 — resubmit"},
        "REJECT seatsDoNotAddUp with a non-ASCII message.")
    add("subscribe-all", "SUBSCRIBE", {"filterKind": 0, "resume": False}, "Every contest, from a snapshot.")
    add("subscribe-regions", "SUBSCRIBE", {"filterKind": 1, "regions": [0, 1], "resume": False},
        "Contests in regions 0 and 1.")
    add("subscribe-contest-kind", "SUBSCRIBE", {"filterKind": 2, "contestKind": 2, "resume": False},
        "Mayoralties only.")
    add("subscribe-resume", "SUBSCRIBE", {"filterKind": 1, "regions": [1], "resume": True, "fromSequence": 1234},
        "Region 1, resuming after sequence 1234.")
    add("snapshot-empty", "SNAPSHOT", {"sequence": 0, "reason": 1, "contests": [], "checksum": checksum_of([])},
        "A snapshot of a hub with no events: checksum 0.")
    add("snapshot-three-records", "SNAPSHOT", SNAPSHOT_THREE,
        "Ambridge (NOC, lost to NOC, votes and turnout), Borchester (LAB gain) and a withdrawn Casterbridge.")
    add("delta-batch-two-events", "DELTA_BATCH",
        batch(1, 2, [{"sequence": 1, "record": R_CASTERBRIDGE_1}, {"sequence": 2, "record": R_AMBRIDGE_1}]),
        "The first two events; checksum of the state after them, starting from empty.")
    add("delta-batch-after-snapshot", "DELTA_BATCH",
        batch(8, 10, [{"sequence": 8, "record": R_MAYOR_1}, {"sequence": 10, "record": R_AMBRIDGE_2}],
              base=SNAPSHOT_THREE["contests"]),
        "Sequences 8..10 after snapshot-three-records (9 did not match the filter): the mayoralty and "
        "Ambridge's correction. Checksum of the snapshot's state after the batch.", base="snapshot-three-records")
    add("delta-batch-empty-range", "DELTA_BATCH", batch(8, 12, [], base=SNAPSHOT_THREE["contests"]),
        "Sequences 8..12 with no matching event; the checksum is unchanged from snapshot-three-records.",
        base="snapshot-three-records")
    add("delta-batch-conflated", "DELTA_BATCH",
        batch(3, 250, [{"sequence": 17, "record": R_BORCHESTER_2}, {"sequence": 140, "record": R_AMBRIDGE_2},
                       {"sequence": 250, "record": R_MAYOR_1}], conflated=True),
        "A conflated batch over 3..250: the latest record of each changed contest with the sequence of its "
        "latest change; checksum from an empty start.")
    add("heartbeat", "HEARTBEAT", {"sequence": 1234}, "A hub heartbeat at sequence 1234.")
    add("query-scoreboard", "QUERY", {"requestID": 5, "kind": 1}, "QUERY the scoreboard.")
    add("query-contest", "QUERY", {"requestID": 6, "kind": 2, "contestID": 4}, "QUERY contest 4.")
    add("query-election", "QUERY", {"requestID": 7, "kind": 3}, "QUERY the election definition.")
    add("scoreboard", "SCOREBOARD", SCOREBOARD_11,
        "A scoreboard with negative changes (svarint) in noOverallControlChange and in rows, and (1.1) the "
        "councillor comparison, one councillorRow per row; the numbers are illustrative, not derived from another "
        "vector.")
    add("scoreboard-derived", "SCOREBOARD", dict(requestID=11, sequence=10, **SCOREBOARD_DERIVED),
        "The scoreboard of election-small-details after snapshot-three-records and delta-batch-after-snapshot "
        "(Ambridge CON hold 24/14/9 against 30/10/7 before, Borchester LAB gain 20/31/9 against 24/27/9, Casterbridge "
        "withdrawn, the mayoralty CON gain): derived, as derived.json's scoreboard 'after-delta-batch' checks.")
    add("contest-present", "CONTEST", {"requestID": 6, "sequence": 1234, "present": True, "record": R_MAYOR_1,
                                       "seatChangesKnown": False},
        "CONTEST answer with the mayoralty's record (candidate votes); a mayoralty has no seat changes (1.1).")
    add("contest-absent", "CONTEST", {"requestID": 8, "sequence": 1234, "present": False, "seatChangesKnown": False},
        "CONTEST answer for a contest with no record yet.")
    add("contest-seat-changes", "CONTEST", {"requestID": 10, "sequence": 1234, "present": True,
                                            "record": R_AMBRIDGE_1, "seatChangesKnown": True,
                                            "seatChanges": rh.seat_changes(DEFN_DETAILS, R_AMBRIDGE_1)},
        "CONTEST answer from a hub serving election-small-details: Ambridge (CON 20, LAB 18, LD 9) against CON 30, "
        "LAB 10, LD 7 before: CON -10, LAB +8, LD +2 (1.1).")
    add("election-small", "ELECTION", {"requestID": 7, "digest": DIGEST, "definition": DEFN,
                                       "definitionDigest": SMALL_DEFINITION_DIGEST},
        "The definition of election-small.json: its core and election digest, then (1.1) an empty details section "
        "(00 00: no note, no contest details) and the definition digest.")
    add("election-with-group", "ELECTION", {"requestID": 9, "digest": rh.u64hex(rh.election_digest(DEFN_GROUP)),
                                            "definition": DEFN_GROUP,
                                            "definitionDigest": rh.u64hex(rh.definition_digest(DEFN_GROUP))},
        "election-small plus a 4th party IND whose flags have bit 0 set (a group that never controls a council), "
        "and whose candidate Carol Whyte stands for the mayoralty (a group can hold a mayoralty).")
    add("election-small-details", "ELECTION", {"requestID": 12, "digest": DIGEST, "definition": DEFN_DETAILS,
                                               "definitionDigest": DETAILS_DIGEST},
        "The definition of election-small-details.json (1.1): election-small's core, whose digest it keeps, then "
        "the details (a note, GSS codes, the compositions before of Ambridge and Borchester) and the definition "
        "digest, H of core and details.")
    add("goodbye-normal", "GOODBYE", {"code": 0, "message": "", "lastSequence": 0}, "A client's normal close.")
    add("goodbye-slow-consumer", "GOODBYE", {"code": 13, "message": "you stayed behind for 30 s",
                                             "lastSequence": 1234}, "The hub drops a slow subscriber.")
    # Specification 1.2 (SPEC 6.17): a rehearsal hub marks every message that carries results.
    add("welcome-subscriber-rehearsal", "WELCOME", dict(welcome, compression=0, regions=[], rehearsal=True),
        "WELCOME to a subscriber from a hub serving a rehearsal (1.2): welcome-desk-regions' fields for a "
        "subscriber, then the marking 01 after the definition digest.")
    add("snapshot-rehearsal", "SNAPSHOT", dict(SNAPSHOT_THREE, rehearsal=True),
        "snapshot-three-records from a rehearsal hub (1.2): the same bytes, then 01. The checksum does not cover "
        "the marking.")
    add("delta-batch-rehearsal", "DELTA_BATCH",
        dict(batch(1, 2, [{"sequence": 1, "record": R_CASTERBRIDGE_1}, {"sequence": 2, "record": R_AMBRIDGE_1}]),
             rehearsal=True),
        "delta-batch-two-events from a rehearsal hub (1.2): the same bytes, then 01.")
    add("scoreboard-rehearsal", "SCOREBOARD", dict(SCOREBOARD_11, rehearsal=True),
        "The scoreboard vector from a rehearsal hub (1.2): after the 1.1 councillor rows, 01.")
    add("contest-rehearsal", "CONTEST", {"requestID": 8, "sequence": 1234, "present": False,
                                         "seatChangesKnown": False, "rehearsal": True},
        "contest-absent from a rehearsal hub (1.2): after seatChangesKnown (00), 01.")
    # Specification 1.3 (SPEC 6.18): a hub that takes no submissions turns a desk away to the leader.
    add("goodbye-leader", "GOODBYE", GOODBYE_LEADER,
        "A follower hub turns a desk away after its handshake (1.3): unexpectedMessage, a message naming the leader "
        "for a 1.2 desk, then leader, the host:port of the hub that takes submissions.")
    add("goodbye-no-leader", "GOODBYE", {"code": 4, "message": "this hub is a follower and takes no submissions; no "
                                         "leader is known just now (a failover is under way): try again shortly",
                                         "lastSequence": 1234, "leader": ""},
        "A follower hub that knows of no leader just now (1.3): leader is the empty string (00); the desk waits "
        "and retries, or tries its other hub addresses.")

    by_name = {e["name"]: e for e in v}
    for e in v:
        e["hex"] = rh.encode_message(e["type"], e["fields"]).hex()
        type_name, flags, fields, used = rh.decode_frame(bytes.fromhex(e["hex"]))
        assert (type_name, flags, fields, used) == (e["type"], 0, e["fields"], len(e["hex"]) // 2), e["name"]
        if e["type"] in ("WELCOME", "SCOREBOARD", "CONTEST"):  # the 1.1 form: its appended fields are present
            assert e["fields"] != without_11(e["type"], e["fields"]), e["name"]
        if e["type"] == "DELTA_BATCH":
            base = by_name[e["baseSnapshot"]]["fields"]["contests"] if "baseSnapshot" in e else []
            state = rh.apply_events({r["contestID"]: r for r in base}, e["fields"]["events"])
            assert checksum_of(state.values()) == e["fields"]["checksum"]
    return v


# ------------------------------------------------------------------------------------ compression.json

def compression_vectors() -> list:
    out = []
    one = batch(1, 1, [{"sequence": 1, "record": R_AMBRIDGE_1}])
    for what, type_name, fields in (("delta-batch-one-declaration", "DELTA_BATCH", one),
                                    ("snapshot-three-records", "SNAPSHOT", SNAPSHOT_THREE),
                                    ("election-small", "ELECTION", {"requestID": 7, "digest": DIGEST,
                                                                    "definition": DEFN,
                                                                    "definitionDigest": SMALL_DEFINITION_DIGEST})):
        payload = rh.encode_payload(type_name, fields)
        for fmt in ("deflate", "zlib"):
            frame = rh.encode_message(type_name, fields, fmt, DICTIONARY)
            assert rh.decode_frame(frame, fmt=fmt, dictionary=DICTIONARY)[2] == fields
            out.append({"name": f"{fmt}-{what}", "format": fmt, "type": type_name, "payloadHex": payload.hex(),
                        "hex": frame.hex()})
    return out


# ------------------------------------------------------------------------------------ checksum.json

def checksum_vectors() -> dict:
    rng = random.Random(SEED)
    samples = [b"", b"\x00", b"a", b"RHUB", bytes(range(256)), bytes(rng.getrandbits(8) for _ in range(1000))]
    samples += [rh.encode_record(r) for r in (R_AMBRIDGE_1, R_CASTERBRIDGE_W)]
    state_sets = [[], [R_AMBRIDGE_1], SNAPSHOT_THREE["contests"],
                  [R_MAYOR_1, R_CASTERBRIDGE_W, R_BORCHESTER_2, R_AMBRIDGE_2],  # order does not matter
                  [R_AMBRIDGE_2, R_BORCHESTER_2, R_CASTERBRIDGE_1, R_MAYOR_1]]
    digests = []
    for name, defn in (("election-small.json", DEFN), ("election-small-details.json", DEFN_DETAILS)):
        core, whole = rh.encode_definition_core(defn), rh.encode_definition(defn)
        assert whole.startswith(core)
        digests.append({"election": name, "coreHex": core.hex(), "electionDigest": rh.u64hex(rh.H(core)),
                        "definitionHex": whole.hex(), "definitionDigest": rh.u64hex(rh.H(whole))})
    assert digests[0]["coreHex"] == digests[1]["coreHex"] and digests[0]["definitionHex"].endswith("0000")
    return {
        "hash": [{"hex": s.hex(), "value": rh.u64hex(rh.H(s))} for s in samples],
        "state": [{"records": [rh.encode_record(r).hex() for r in records], "checksum": checksum_of(records)}
                  for records in state_sets],
        "electionDigests": digests,
    }


# -------------------------------------------------------------------------------------- derived.json

def derived_vectors() -> dict:
    """What a hub derives (sections 4.1, 6.13, 7.2): records from declarations, seat changes, a scoreboard."""
    definitions = {"election-small": DEFN, "election-with-group": DEFN_GROUP, "election-small-details": DEFN_DETAILS}
    records = []

    def add(name, election, desk, declaration, description, same_as=None):
        defn = definitions[election]
        rec = rh.record_from_declaration(defn, declaration, desk)
        entry = {"name": name, "description": description, "election": election, "deskID": desk,
                 "declaration": declaration, "record": rec, "recordHex": rh.encode_record(rec).hex(),
                 "seatChanges": rh.seat_changes(defn, rec)}
        if same_as:
            assert next(e for e in records if e["name"] == same_as)["recordHex"] == entry["recordHex"], name
        records.append(entry)
        return rec

    ambridge = {"contestID": 1, "revision": 1, "seats": [[1, 18], [0, 20], [2, 9]],
                "votes": [[0, 14872], [1, 13904]], "declaredAt": ms("2023-05-05T02:14:31")}
    rec = add("votes-without-zero", "election-small", "south", ambridge,
              "Ambridge with votes for CON and LAB only.")
    assert rec["votes"] == [[0, 14872], [1, 13904]]
    add("votes-with-zero", "election-small", "south", dict(ambridge, votes=[[2, 0], [1, 13904], [0, 14872]]),
        "The same declaration with LD=0 votes (7.2, 1.1): the zero is dropped, so the record is the same, and a "
        "resubmission of either is a duplicate of the other.", same_as="votes-without-zero")
    add("seats-and-votes-all-zero-votes", "election-small", "north", dict(D_BORCHESTER_2, votes=[[0, 0], [2, 0]]),
        "Borchester with votes that are all zero: the vote list is left out (fields bit 0 clear), the same record "
        "as without votes.")
    assert records[-1]["record"] == R_BORCHESTER_2
    add("council-unknown-size", "election-small", "north", D_CASTERBRIDGE_1,
        "Casterbridge (size unknown): LD 12 of the 17 declared seats is a majority; control before unknown.")
    add("council-unknown-size-half", "election-small", "north",
        dict(D_CASTERBRIDGE_1, seats=[[2, 6], [0, 6]]),
        "Casterbridge: LD 6 and CON 6 of 12 declared seats; exactly half is not a majority: NOC.")
    add("council-group-majority", "election-with-group", "south",
        dict(ambridge, seats=[[3, 37], [0, 10]], votes=[[3, 20000], [0, 9000]]),
        "Ambridge (election-with-group): IND 37 of 47, but IND is a group, which never controls a council: NOC, "
        "lost to no overall control (CON before).")
    add("mayoralty-won-by-group", "election-with-group", "national",
        dict(D_MAYOR_1, seats=[[3, 1]], candidateVotes=[9000, 8000, 11000]),
        "Mayor of Dunmore (election-with-group): Carol Whyte (IND, a group) wins; a mayoralty is the winner's "
        "party's, a group's included: IND gain from LAB.")
    assert records[-1]["record"]["control"] == 4 and records[-1]["record"]["outcome"] == rh.OUTCOME_GAIN
    add("council-seat-changes", "election-small-details", "south", D_AMBRIDGE_1,
        "Ambridge (election-small-details) CON 20, LAB 18, LD 9 against CON 30, LAB 10, LD 7 before: CON -10, "
        "LAB +8, LD +2.")
    add("council-seat-changes-new-party", "election-small-details", "north",
        dict(D_BORCHESTER_2, seats=[[1, 60]]),
        "Borchester all LAB (60) against CON 24, LAB 27, LD 9 before: CON -24, LAB +33, LD -9 (a party with no "
        "seats now has a change).")
    add("council-no-composition-before", "election-small-details", "north", D_CASTERBRIDGE_1,
        "Casterbridge has no composition before: no seat changes (null).")
    add("mayoralty-no-seat-changes", "election-small-details", "national", D_MAYOR_1,
        "A mayoralty has no seat changes (null).")

    scoreboards = [{"name": "after-delta-batch", "election": "election-small-details",
                    "description": "snapshot-three-records then delta-batch-after-snapshot (messages.json): Ambridge "
                                   "revision 2, Borchester, Casterbridge withdrawn, the mayoralty. Casterbridge is "
                                   "withdrawn, so every declared council has a composition before.",
                    "records": [rh.encode_record(r).hex() for r in STATE_AFTER_BATCH],
                    "scoreboard": SCOREBOARD_DERIVED},
                   {"name": "with-a-council-not-compared", "election": "election-small-details",
                    "description": "Ambridge revision 2, Borchester and Casterbridge's declaration: Casterbridge has "
                                   "no composition before, so it counts in councillors but in neither comparison "
                                   "figure.",
                    "records": [rh.encode_record(r).hex() for r in (R_AMBRIDGE_2, R_BORCHESTER_2, R_CASTERBRIDGE_1)],
                    "scoreboard": rh.derive_scoreboard(DEFN_DETAILS, [R_AMBRIDGE_2, R_BORCHESTER_2,
                                                                      R_CASTERBRIDGE_1])}]
    assert scoreboards[1]["scoreboard"]["councilsNotCompared"] == 1
    return {"records": records, "scoreboards": scoreboards}


# ------------------------------------------------------------------------------------ primitives.json

def primitive_vectors() -> dict:
    unsigned = [0, 1, 127, 128, 300, 16383, 16384, 2 ** 32 - 1, 2 ** 63, 2 ** 64 - 1]
    signed = [0, -1, 1, -2, 63, -64, 64, 1683249271000, -1683249271000, 2 ** 63 - 1, -(2 ** 63)]
    invalid = [("8000", "malformedFrame"), ("ff00", "malformedFrame"), ("80808080808080808000", "malformedFrame"),
               ("8080808080808080808001", "malformedFrame"), ("ffffffffffffffffff02", "malformedFrame"),
               ("ffffffffffffffffff7f", "malformedFrame"), ("ffffffffffffffffffff01", "malformedFrame"),
               ("80", "truncated"), ("ffff", "truncated"), ("", "truncated")]
    for h, err in invalid:
        try:
            rh.decode_varint(bytes.fromhex(h))
            raise AssertionError(h)
        except rh.ProtocolError as e:
            assert e.error == err, (h, e)
    for n in unsigned:
        assert rh.decode_varint(rh.encode_varint(n)) == (n, len(rh.encode_varint(n)))
    for n in signed:
        assert rh.decode_svarint(rh.encode_svarint(n)) == (n, len(rh.encode_svarint(n)))
    return {"varint": [{"value": n, "hex": rh.encode_varint(n).hex()} for n in unsigned],
            "svarint": [{"value": n, "hex": rh.encode_svarint(n).hex()} for n in signed],
            "invalidVarint": [{"hex": h, "error": err} for h, err in invalid]}


# -------------------------------------------------------------------------------------- invalid.json

def payload(build) -> bytes:
    w = rh.Writer(check=False)
    build(w)
    return w.bytes()


def frame(type_name, body: bytes, flags=0) -> bytes:
    return rh.encode_frame(type_name, body, flags)


def hello_body(**over) -> bytes:
    f = {"minVersion": 1, "maxVersion": 1, "role": 1, "principal": "north", "secret": "tok-7f3a9c1e",
         "compression": 3, "clientName": "reporter/1.0", **over}

    def build(w):
        w.raw(f.pop("magic", rh.MAGIC))
        w.varint(f["minVersion"])
        w.varint(f["maxVersion"])
        w.u8(f["role"])
        w.string(f["principal"], 64, "")
        w.string(f["secret"], 256, "")
        w.u8(f["compression"])
        if isinstance(f["clientName"], bytes):
            w.varint(len(f["clientName"]))
            w.raw(f["clientName"])
        else:
            w.string(f["clientName"], 64, "")
    return payload(build)


def contest_frame(put) -> bytes:
    """A CONTEST answer whose record is written by put(w) (so the record may be invalid)."""
    def build(w):
        w.varint(6)
        w.varint(1234)
        w.boolean(True)
        put(w)
    return frame("CONTEST", payload(build))


def raw_record(rec, **kw):
    return lambda w: rh.put_record(w, rec, **kw)


def raw_message(type_name, fields) -> bytes:
    """fields encoded by the codec's encoder with its checks off, so one field may be out of range."""
    return frame(type_name, payload(lambda w: rh.CODECS[type_name][0](w, fields)))


def pinned_vectors(add):
    """Invalid vectors that pin the readings of Tools/vectors/README.md items 7, 8, 10, 11, 13-16 (added after the
    first 43, which keep their order and bytes). Each is made from fields that differ from a valid message's in
    one value, and that valid message (the control) must encode and decode cleanly, so each vector has one fault."""

    def pinned(name, type_name, fields, bad, error, description, state="established"):
        for key, value in bad.items():
            assert key in fields and fields[key] != value, (name, key)
        control = rh.encode_message(type_name, fields)
        assert rh.decode_frame(control, state)[2] == fields, name
        add(name, state, raw_message(type_name, dict(fields, **bad)), error, description)

    def one_record(rec):  # a SNAPSHOT of one record whose checksum is that of the record's bytes as written
        rec_bytes = payload(lambda w: rh.put_record(w, rec))
        return frame("SNAPSHOT", payload(lambda w: (w.varint(7), w.u8(1), w.varint(1), w.raw(rec_bytes),
                                                    w.u64(rh.state_checksum_of_bytes([rec_bytes])))))

    # Item 7: contest id and revision 0 are malformedFrame.
    assert rh.decode_frame(one_record(R_AMBRIDGE_1))[2]["contests"] == [R_AMBRIDGE_1]
    add("record-contest-id-0", "established", one_record(dict(R_AMBRIDGE_1, contestID=0)), "malformedFrame",
        "A SNAPSHOT of one record (Ambridge's) whose contestID is 0; the checksum is that of the record's bytes.")
    submit = {"requestID": 17, "declaration": D_AMBRIDGE_1}
    for key in ("contestID", "revision"):
        add(f"submit-{key.replace('ID', '-id').lower()}-0", "established", raw_message(
            "SUBMIT", dict(submit, declaration=dict(D_AMBRIDGE_1, **{key: 0}))), "malformedFrame",
            f"A SUBMIT whose declaration has {key} 0.")
    assert rh.decode_frame(rh.encode_message("SUBMIT", submit))[2] == submit
    withdraw = {"requestID": 19, "contestID": 3, "revision": 2, "withdrawnAt": ms("2023-05-05T05:00:00"),
                "reason": "declared in error: ward 7 recount"}
    pinned("withdraw-revision-0", "WITHDRAW", withdraw, {"revision": 0}, "malformedFrame",
           "A WITHDRAW with revision 0 (not decoded and answered staleRevision or nothingToWithdraw).")
    pinned("query-contest-id-0", "QUERY", {"requestID": 6, "kind": 2, "contestID": 4}, {"contestID": 0},
           "malformedFrame", "QUERY kind 2 (contest) for contest id 0.")
    ack = {"requestID": 17, "sequence": 1235, "duplicate": False, "contestID": 1, "revision": 2,
           "status": "declared", "control": 1, "outcome": 1}
    pinned("ack-contest-id-0", "ACK", ack, {"contestID": 0}, "malformedFrame", "An ACK for contest id 0.")

    # Item 10: sequences start at 1.
    pinned("delta-batch-first-sequence-0", "DELTA_BATCH", batch(1, 2, []), {"firstSequence": 0}, "malformedFrame",
           "DELTA_BATCH 0..2 with no events: firstSequence 0 (sequences start at 1).")

    # Item 13: a withdrawn ACK carries control 0 and outcome 0.
    ack_withdrawn = {"requestID": 19, "sequence": 1236, "duplicate": False, "contestID": 3, "revision": 2,
                     "status": "withdrawn", "control": 0, "outcome": 0}
    pinned("ack-withdrawn-control-1", "ACK", ack_withdrawn, {"control": 1}, "malformedFrame",
           "ACK of a withdrawal with control 1 (NOC): a withdrawn ACK has control 0.")
    pinned("ack-withdrawn-outcome-2", "ACK", ack_withdrawn, {"outcome": 2}, "malformedFrame",
           "ACK of a withdrawal with outcome 2 (gain): a withdrawn ACK has outcome 0.")

    # Item 14: WELCOME.
    welcome = {"version": 1, "hubName": "ResultsHub newsroom", "electionID": "small-2023", "electionDigest": DIGEST,
               "latestSequence": 1234, "compression": 2, "maxFrameLength": 1048576, "maxDecompressedLength": 4194304,
               "heartbeatIntervalMillis": 15000, "allRegions": False, "regions": [1]}
    pinned("welcome-version-0", "WELCOME", welcome, {"version": 0}, "malformedFrame", "WELCOME with version 0.")
    pinned("welcome-all-regions-with-regions", "WELCOME", welcome, {"allRegions": True}, "malformedFrame",
           "WELCOME with allRegions true and the regions list [1] (it must be empty with allRegions).")

    # Item 16: VERSION_RANGE is decoded strictly, 1 <= minVersion <= maxVersion.
    version_range = {"minVersion": 1, "maxVersion": 1,
                     "message": "this hub speaks ResultsHub protocol versions 1 to 1"}
    pinned("version-range-min-version-0", "VERSION_RANGE", version_range, {"minVersion": 0}, "malformedFrame",
           "VERSION_RANGE 0..1: minVersion 0.")
    pinned("version-range-min-above-max", "VERSION_RANGE", version_range, {"minVersion": 2}, "malformedFrame",
           "VERSION_RANGE 2..1: minVersion above maxVersion.")

    # Item 11: the ELECTION digest is verified on decoding.
    election = {"requestID": 7, "digest": DIGEST, "definition": DEFN}
    pinned("election-wrong-digest", "ELECTION", election,
           {"digest": rh.u64hex((rh.election_digest(DEFN) + 1) % 2 ** 64)}, "checksumMismatch",
           "election-small's definition with its digest plus 1: the digest is not H of the definition bytes.")

    # Item 10: ordering of snapshots, scoreboards and batches.
    pinned("snapshot-contests-not-ascending", "SNAPSHOT", dict(SNAPSHOT_THREE, contests=[R_AMBRIDGE_1, R_BORCHESTER_2],
                                                              checksum=checksum_of([R_AMBRIDGE_1, R_BORCHESTER_2])),
           {"contests": [R_BORCHESTER_2, R_AMBRIDGE_1]}, "malformedFrame",
           "A SNAPSHOT listing contest 2 before contest 1; the checksum is right (it does not depend on order).")
    rows = [{"partyIndex": 0, "councils": 1, "councilsChange": 0, "councillors": 49, "mayors": 1},
            {"partyIndex": 1, "councils": 1, "councilsChange": 1, "councillors": 45, "mayors": 0},
            {"partyIndex": 2, "councils": 0, "councilsChange": -2, "councillors": 18, "mayors": 0}]
    scoreboard = {"requestID": 5, "sequence": 1234, "contestsDeclared": 3, "contestsTotal": 4, "noOverallControl": 0,
                  "noOverallControlChange": -1, "rows": rows}
    pinned("scoreboard-rows-not-ascending", "SCOREBOARD", scoreboard, {"rows": [rows[0], rows[2], rows[1]]},
           "malformedFrame", "A SCOREBOARD whose rows are for parties 0, 2, 1.")
    events = [{"sequence": 8, "record": R_MAYOR_1}, {"sequence": 10, "record": R_AMBRIDGE_2}]
    pinned("delta-batch-events-not-ascending", "DELTA_BATCH", batch(8, 10, events),
           {"events": events[::-1]}, "malformedFrame",
           "DELTA_BATCH 8..10 with its events at sequences 10, then 8.")

    # Items 8 and 15: values outside their table.
    pinned("subscribe-regions-empty", "SUBSCRIBE", {"filterKind": 1, "regions": [0], "resume": False},
           {"regions": []}, "malformedFrame", "SUBSCRIBE by region (filterKind 1) naming 0 regions (1..64).")
    pinned("query-kind-4", "QUERY", {"requestID": 5, "kind": 1}, {"kind": 4}, "malformedFrame", "QUERY kind 4.")
    pinned("snapshot-reason-0", "SNAPSHOT", SNAPSHOT_THREE, {"reason": 0}, "malformedFrame",
           "snapshot-three-records with reason 0 (1..3).")
    contest = {"requestID": 6, "sequence": 1234, "present": True, "record": R_MAYOR_1}
    pinned("record-outcome-5", "CONTEST", contest, {"record": dict(R_MAYOR_1, outcome=5)}, "malformedFrame",
           "A CONTEST answer whose record (the mayoralty's) has outcome 5 (0..4).")

    # Specification 1.1, issue 10 item 7: WELCOME compression and region list, the upper bound of control.
    pinned("welcome-compression-3", "WELCOME", WELCOME_11, {"compression": 3}, "malformedFrame",
           "WELCOME with compression 3 (0..2).")
    pinned("welcome-regions-1025", "WELCOME", WELCOME_11, {"regions": [0] * 1025}, "limitExceeded",
           "WELCOME whose regions list has 1025 entries (limit 1024).")
    add("record-control-1025", "established", one_record(dict(R_AMBRIDGE_1, control=1025)), "limitExceeded",
        "A SNAPSHOT of one record (Ambridge's) whose control is 1025 (party index 1023 + 1 is the most).")

    # Specification 1.1: the appended fields.
    election_details = {"requestID": 12, "digest": DIGEST, "definition": DEFN_DETAILS,
                        "definitionDigest": DETAILS_DIGEST}
    pinned("election-wrong-definition-digest", "ELECTION", election_details,
           {"definitionDigest": rh.u64hex((rh.parse_u64(DETAILS_DIGEST) + 1) % 2 ** 64)}, "checksumMismatch",
           "election-small-details with its definition digest plus 1 (the election digest is right).")
    core = rh.encode_definition_core(DEFN_DETAILS)

    def election_with_details(details: bytes) -> bytes:
        """An ELECTION of election-small-details' core followed by these details bytes and their right digest."""
        return frame("ELECTION", payload(lambda w: (w.varint(12), w.u64(rh.H(core)), w.raw(core), w.raw(details),
                                                    w.u64(rh.H(core + details)))))

    with_code = payload(lambda w: (w.u8(1), w.string("E1", 16, "")))  # a contestDetail with a GSS code
    no_detail = payload(lambda w: w.u8(0))

    def details(note="n", entries=None, count=None) -> bytes:
        entries = entries if entries is not None else [with_code] * 4
        return payload(lambda w: (w.string(note, 1024, ""), w.varint(len(entries) if count is None else count),
                                  [w.raw(e) for e in entries]))

    assert rh.decode_frame(election_with_details(details()))[2]["definition"]["seatsBeforeNote"] == "n"
    assert rh.decode_frame(election_with_details(details(entries=[no_detail] * 3 + [with_code])))
    add("election-details-count-3", "established", election_with_details(details(entries=[with_code] * 3)),
        "malformedFrame",
        "ELECTION whose contestDetails count is 3 for 4 contests (it must be 0 or 4).")
    add("election-details-reserved-bit", "established", election_with_details(details(
        entries=[payload(lambda w: w.u8(5))] + [with_code] * 3)), "malformedFrame",
        "ELECTION whose first contestDetail has fields 5: only bits 0 (gssCode) and 1 (seatsBefore) are defined.")
    add("election-seats-before-zero", "established", election_with_details(details(
        entries=[payload(lambda w: (w.u8(2), w.varint(2), w.varint(0), w.varint(30), w.varint(1), w.varint(0)))]
        + [with_code] * 3)), "malformedFrame",
        "ELECTION whose first contest's seatsBefore lists LAB with 0 seats.")
    add("election-seats-before-unknown-party", "established", election_with_details(details(
        entries=[payload(lambda w: (w.u8(2), w.varint(1), w.varint(3), w.varint(30)))] + [with_code] * 3)),
        "malformedFrame", "ELECTION whose first contest's seatsBefore names party index 3 of 3 parties.")
    add("election-details-without-detail", "established", election_with_details(details(entries=[no_detail] * 4)),
        "malformedFrame", "ELECTION whose contestDetails list all 4 contests, none of them with a detail (the count "
        "must then be 0).")
    scoreboard_10 = rh.encode_payload("SCOREBOARD", without_11("SCOREBOARD", SCOREBOARD_11))
    add("scoreboard-councillor-rows-2", "established", frame("SCOREBOARD", scoreboard_10 + payload(lambda w: (
        w.varint(2), w.varint(1), w.varint(2), w.varint(44), w.svarint(-10), w.varint(45), w.svarint(8)))),
        "malformedFrame", "A SCOREBOARD with 3 rows but 2 councillorRows.")
    contest_changes = {"requestID": 10, "sequence": 1234, "present": True, "record": R_AMBRIDGE_1,
                       "seatChangesKnown": True, "seatChanges": [[0, -10], [1, 8], [2, 2]]}
    pinned("contest-seat-changes-not-ascending", "CONTEST", contest_changes,
           {"seatChanges": [[1, 8], [0, -10], [2, 2]]}, "malformedFrame",
           "A CONTEST answer whose seat changes are for parties 1, 0, 2.")
    pinned("contest-seat-change-zero", "CONTEST", contest_changes,
           {"seatChanges": [[0, -10], [1, 8], [2, 0]]}, "malformedFrame",
           "A CONTEST answer listing a seat change of 0.")
    pinned("contest-seat-change-2-pow-32", "CONTEST", contest_changes,
           {"seatChanges": [[0, -(2 ** 32)], [1, 8], [2, 2]]}, "limitExceeded",
           "A CONTEST answer with a seat change of -2^32 (magnitude at most 2^32-1).")

    # Specification 1.1: a 1.0 hub's WELCOME, SCOREBOARD, CONTEST and ELECTION (without the appended fields) still
    # decode.
    election_small = {"requestID": 7, "digest": DIGEST, "definition": DEFN,
                      "definitionDigest": SMALL_DEFINITION_DIGEST}
    for name, type_name, fields in (("welcome-1.0", "WELCOME", WELCOME_11),
                                    ("scoreboard-1.0", "SCOREBOARD", SCOREBOARD_11),
                                    ("contest-1.0", "CONTEST", contest_changes),
                                    ("election-1.0", "ELECTION", election_small)):
        old = without_11(type_name, fields)
        add(name, "established", rh.encode_message(type_name, old), "none",
            f"The {type_name} of a 1.0 hub: the fields of the 1.1 vector without those 1.1 appends. A 1.1 receiver "
            "decodes it to decodesTo; its appended fields are absent.", decodesTo=old, form="1.0")

    # Item 8's exception: unknown HELLO compression bits are masked off. This decodes (error "none").
    hello = {"minVersion": 1, "maxVersion": 1, "role": 1, "principal": "north", "secret": "tok-7f3a9c1e",
             "compression": 3, "clientName": "reporter/1.0"}
    data = frame("HELLO", hello_body(compression=0x83))
    assert data != rh.encode_message("HELLO", hello)
    add("hello-compression-unknown-bits", "preHandshake", data, "none",
        "A desk's HELLO whose compression byte is 0x83: bit 7 is unknown and masked off, so it decodes to "
        "compression 3 (decodesTo). Not an error, and not re-encoded (3 encodes as 03).", decodesTo=hello)

    # Specification 1.3: GOODBYE's leader is a string of at most 261 bytes (a host:port).
    pinned("goodbye-leader-262-bytes", "GOODBYE", GOODBYE_LEADER, {"leader": "h" * 257 + ":7400"}, "limitExceeded",
           "goodbye-leader whose leader is 262 bytes (limit 261).")


def invalid_vectors() -> list:
    v = []

    def add(name, state, data: bytes, error, description, **extra):
        v.append({"name": name, "description": description, "state": state, "hex": data.hex(), "error": error,
                  **extra})

    good_batch = rh.encode_payload("DELTA_BATCH", batch(1, 1, [{"sequence": 1, "record": R_AMBRIDGE_1}]))

    add("frame-length-0", "preHandshake", bytes(4), "malformedFrame", "length 0: a frame needs at least 2.")
    add("frame-length-1", "established", bytes.fromhex("0000000130"), "malformedFrame",
        "length 1: only a type byte, no flags byte.")
    add("truncated-frame", "established", bytes.fromhex("00000014" "1000110101"), "truncated",
        "length says 20 but only 5 bytes follow: the frame is incomplete (need more input, not an error code).")
    add("length-lie-inside-submit", "established", frame("SUBMIT", payload(lambda w: (
        w.varint(17), w.varint(1), w.varint(1), w.varint(0), w.varint(5), w.varint(0), w.varint(20), w.varint(1),
        w.varint(27)))), "malformedFrame",
        "A complete frame whose SUBMIT says 5 seat entries but holds 2: the payload ends inside a field.")
    add("length-4gb", "established", bytes.fromhex("ffffffff"), "frameTooLarge",
        "A length prefix of 2^32-1: rejected before buffering.")
    add("length-4097-pre-handshake", "preHandshake", bytes.fromhex("000010010100"), "frameTooLarge",
        "4097 > 4096 before WELCOME (a length of exactly 4096 is accepted).")
    add("length-1048577-established", "established", bytes.fromhex("001000013000"), "frameTooLarge",
        "1048577 > 1 MiB after WELCOME (exactly 1048576 is accepted).")
    add("unknown-type-0x7e", "established", bytes.fromhex("000000027e00"), "unknownMessageType", "type 0x7e.")
    add("reserved-flag-bit", "established", frame("HEARTBEAT", rh.encode_payload("HEARTBEAT", {"sequence": 1}),
                                                  flags=0x02), "malformedFrame", "HEARTBEAT with flag bit 1 set.")
    add("hello-wrong-magic", "preHandshake", frame("HELLO", hello_body(magic=b"RHUC")), "notThisProtocol",
        "HELLO whose magic is RHUC.", detail="unknown")
    add("http-request", "preHandshake", b"GET / HTTP/1.1\r\nHost: hub.example\r\n\r\n", "notThisProtocol",
        "An HTTP/1.1 request: the hub answers HTTP/1.1 400 Bad Request.", detail="http")
    add("tls-client-hello", "preHandshake", bytes.fromhex("1603010200010001fc0303") + bytes(range(32)),
        "notThisProtocol", "The start of a TLS ClientHello: the hub answers the alert 15 03 01 00 02 02 46.",
        detail="tls")
    add("hello-min-version-0", "preHandshake", frame("HELLO", hello_body(minVersion=0)), "malformedFrame",
        "HELLO with minVersion 0.")
    add("hello-min-above-max", "preHandshake", frame("HELLO", hello_body(minVersion=3, maxVersion=2)),
        "malformedFrame", "HELLO with minVersion 3 > maxVersion 2.")
    hello59 = frame("HELLO", hello_body(minVersion=5, maxVersion=9))
    reply = rh.hub_answer_to_hello(rh.decode_frame(hello59, "preHandshake")[2])
    add("hello-versions-5-to-9", "preHandshake", hello59, "unsupportedVersion",
        "HELLO for versions 5..9 to a v1-only hub: it answers VERSION_RANGE 1..1 and waits for another HELLO "
        "(GOODBYE unsupportedVersion only after repeated failures).", expectReplyHex=reply.hex())
    add("hello-unknown-role", "preHandshake", frame("HELLO", hello_body(role=3)), "malformedFrame",
        "HELLO with role 3.")
    add("invalid-utf8-hello", "preHandshake", frame("HELLO", hello_body(clientName=b"rep\xff\xfe")),
        "malformedFrame", "HELLO clientName with bytes ff fe (not UTF-8).")
    rec = rh.encode_record(dict(R_MAYOR_1, deskID="x/"))
    add("invalid-utf8-desk-id", "established", contest_frame(lambda w: w.raw(rec[:-2] + b"\xc0\xaf")),
        "malformedFrame", "A record's deskID of 2 bytes c0 af (an overlong '/', invalid UTF-8).")
    add("desk-id-65-bytes", "established", contest_frame(raw_record(dict(R_MAYOR_1, deskID="d" * 65))),
        "limitExceeded", "A record's deskID of 65 bytes (limit 64).")
    add("seats-count-257", "established", frame("SUBMIT", payload(lambda w: (
        w.varint(17), rh.put_declaration(w, {"contestID": 1, "revision": 1, "seats": [[p, 1] for p in range(257)],
                                             "declaredAt": 0})))), "limitExceeded",
        "A SUBMIT whose seats list has 257 entries (limit 256), all present.")
    add("list-count-2-pow-32", "established", frame("SNAPSHOT", payload(lambda w: (
        w.varint(7), w.u8(1), w.varint(2 ** 32)))), "limitExceeded",
        "A SNAPSHOT whose contests count is 2^32 with nothing after it: rejected before allocating.")
    add("record-seats-not-ascending", "established", contest_frame(raw_record(
        dict(R_AMBRIDGE_1, seats=[[1, 18], [0, 20], [2, 9]]))), "malformedFrame",
        "A record whose seats are not in ascending party index.")
    add("record-zero-seats", "established", contest_frame(raw_record(
        dict(R_AMBRIDGE_1, seats=[[0, 20], [1, 18], [2, 9], [3, 0]]))), "malformedFrame",
        "A record listing a party with 0 seats.")
    add("record-votes-not-ascending", "established", contest_frame(raw_record(
        dict(R_AMBRIDGE_1, votes=[[0, 14872], [2, 7215], [1, 13904]]))), "malformedFrame",
        "A record whose votes are not in ascending party index.")
    add("bool-value-2", "established", frame("ACK", payload(lambda w: (
        w.varint(17), w.varint(1235), w.u8(2), w.varint(1), w.varint(2), w.u8(1), w.varint(1), w.u8(1)))),
        "malformedFrame", "ACK whose duplicate byte is 2.")
    add("record-status-3", "established", contest_frame(raw_record(R_AMBRIDGE_1, status_byte=3)),
        "malformedFrame", "A record with status byte 3.")
    add("record-fields-reserved-bit", "established", contest_frame(raw_record(R_MAYOR_1, extra_field_bits=8)),
        "malformedFrame", "A record whose fields varint has bit 3 set.")
    add("non-minimal-varint", "established", frame("HEARTBEAT", bytes.fromhex("8000")), "malformedFrame",
        "HEARTBEAT whose sequence is the non-minimal varint 80 00.")
    add("varint-overflow", "established", frame("HEARTBEAT", bytes.fromhex("ffffffffffffffffff02")),
        "malformedFrame", "HEARTBEAT whose sequence varint exceeds 2^64-1.")
    add("payload-ends-in-varint", "established", frame("HEARTBEAT", bytes.fromhex("80")), "malformedFrame",
        "A complete frame whose payload ends inside a varint.")
    add("contest-id-2-pow-32", "established", frame("QUERY", payload(lambda w: (
        w.varint(6), w.u8(2), w.varint(2 ** 32)))), "limitExceeded", "QUERY for contest id 2^32 (limit 2^32-1).")
    add("subscribe-65-regions", "established", frame("SUBSCRIBE", payload(lambda w: (
        w.u8(1), w.varint(65), [w.varint(i) for i in range(65)], w.boolean(False)))), "limitExceeded",
        "SUBSCRIBE by region with 65 regions (limit 64).")
    add("delta-batch-last-before-first", "established", frame("DELTA_BATCH", payload(lambda w: (
        w.varint(9), w.varint(8), w.boolean(False), w.varint(0), w.u64(0)))), "malformedFrame",
        "DELTA_BATCH with lastSequence 8 < firstSequence 9.")
    add("delta-batch-offset-outside-range", "established", frame("DELTA_BATCH", payload(lambda w: (
        w.varint(8), w.varint(10), w.boolean(False), w.varint(1), w.varint(3), rh.put_record(w, R_MAYOR_1),
        w.u64(rh.state_checksum([R_MAYOR_1]))))), "malformedFrame",
        "DELTA_BATCH 8..10 with an event at offset 3 (sequence 11).")
    bad_defn = json.loads(json.dumps(DEFN_GROUP))
    bad_defn["parties"][3]["flags"] = 3
    add("party-flags-reserved-bit", "established", frame("ELECTION", payload(lambda w: (
        w.varint(9), w.u64(rh.H(payload(lambda d: rh.put_definition(d, bad_defn)))),
        rh.put_definition(w, bad_defn)))), "malformedFrame",
        "ELECTION whose 4th party has flags 3: bit 1 is reserved (section 7.3). The digest matches the bytes.")
    wrong = dict(SNAPSHOT_THREE, checksum=rh.u64hex((rh.parse_u64(SNAPSHOT_THREE["checksum"]) + 1) % 2 ** 64))
    add("snapshot-wrong-checksum", "established", frame("SNAPSHOT", rh.encode_payload("SNAPSHOT", wrong)),
        "checksumMismatch", "snapshot-three-records with its checksum plus 1.")

    def compressed(length, data):
        return frame("DELTA_BATCH", rh.encode_varint(length) + data, flags=0x01)

    def deflate(raw, fmt="deflate", dictionary=DICTIONARY):
        return rh.compress(raw, fmt, dictionary)[len(rh.encode_varint(len(raw))):]

    add("decompressed-too-large", "established", compressed(100_000_000, deflate(good_batch)),
        "decompressedTooLarge", "uncompressedLength 100000000 > 4 MiB: rejected before inflating.")
    add("compression-bomb", "established", compressed(1000, deflate(bytes(5 * 1024 * 1024))),
        "decompressionFailed", "5 MiB of zeros deflated, declared as 1000 bytes: inflating stops after 1000.")
    add("corrupt-deflate", "established", compressed(len(good_batch), bytes.fromhex("ffffffff")),
        "decompressionFailed", "Deflate data starting with a block of the reserved type 3.")
    add("uncompressed-length-too-big", "established",
        compressed(len(good_batch) + 10, deflate(good_batch)), "decompressionFailed",
        "uncompressedLength 10 more than the stream inflates to.")
    add("deflate-trailing-bytes", "established", compressed(len(good_batch), deflate(good_batch) + b"\0"),
        "decompressionFailed", "A byte after the end of the deflate stream.")
    add("zlib-wrong-dictionary", "established",
        compressed(len(good_batch), deflate(good_batch, "zlib", bytes(range(64)))), "decompressionFailed",
        "zlib stream whose DICTID is the Adler-32 of another dictionary.", format="zlib")
    add("zlib-truncated-stream", "established",
        compressed(len(good_batch), deflate(good_batch, "zlib")[:-4]), "decompressionFailed",
        "zlib stream without its Adler-32 trailer.", format="zlib")

    pinned_vectors(add)

    for e in v:
        data = bytes.fromhex(e["hex"])
        fmt = e.get("format", "deflate")
        try:
            result = rh.decode_frame(data, e["state"], fmt=fmt, dictionary=DICTIONARY)
        except rh.ProtocolError as err:
            assert (err.error, err.detail) == (e["error"], e.get("detail")), (e["name"], err)
            continue
        if e["error"] == "none":  # decodes; HELLO's fields re-encode to other bytes, a 1.0 form to the same
            assert result[2] == e["decodesTo"], e["name"]
            assert (rh.encode_message(result[0], result[2]) == data) == (e.get("form") == "1.0"), e["name"]
            continue
        assert e["error"] == "unsupportedVersion" and rh.hub_answer_to_hello(result[2]).hex() == e["expectReplyHex"]
    assert len({e["name"] for e in v}) == len(v), "invalid vector names are unique"
    assert len(bytes.fromhex(next(e for e in v if e["name"] == "compression-bomb")["hex"])) <= 1_048_576
    return v


# ------------------------------------------------------------------------------------------- output

def dump(path: Path, obj):
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="Protocol/vectors")
    out = REPO_ROOT / parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    assert rh.definition_from_operator(json.loads(json.dumps(ELECTION_SMALL))) == DEFN
    assert rh.definition_from_operator(json.loads(json.dumps(ELECTION_SMALL_DETAILS))) == DEFN_DETAILS
    files = {
        "election-small.json": ELECTION_SMALL,
        "election-small-details.json": ELECTION_SMALL_DETAILS,
        "primitives.json": primitive_vectors(),
        "messages.json": {"vectors": message_vectors()},
        "compression.json": {"election": "election-small.json", "dictionaryHex": DICTIONARY.hex(),
                             "vectors": compression_vectors()},
        "checksum.json": checksum_vectors(),
        "invalid.json": {"vectors": invalid_vectors()},
        "derived.json": derived_vectors(),
    }
    for name, obj in files.items():
        dump(out / name, obj)
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
