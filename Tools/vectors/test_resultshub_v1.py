"""Check Protocol/vectors/*.json against the reference codec (unittest, standard library only).

    python3 -m unittest discover -s Tools/vectors -v
"""
from __future__ import annotations

import json
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import resultshub_v1 as rh  # noqa: E402

VECTORS = HERE.parent.parent / "Protocol" / "vectors"


def load(name):
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


ELECTION = rh.definition_from_operator(load("election-small.json"))
DICTIONARY = rh.preset_dictionary(ELECTION)


class Primitives(unittest.TestCase):
    def test_varints(self):
        p = load("primitives.json")
        for kind, enc, dec in (("varint", rh.encode_varint, rh.decode_varint),
                               ("svarint", rh.encode_svarint, rh.decode_svarint)):
            for v in p[kind]:
                with self.subTest(kind=kind, value=v["value"]):
                    self.assertEqual(enc(v["value"]).hex(), v["hex"])
                    self.assertEqual(dec(bytes.fromhex(v["hex"])), (v["value"], len(v["hex"]) // 2))

    def test_invalid_varints(self):
        for v in load("primitives.json")["invalidVarint"]:
            with self.subTest(hex=v["hex"]), self.assertRaises(rh.ProtocolError) as cm:
                rh.decode_varint(bytes.fromhex(v["hex"]))
            self.assertEqual(cm.exception.error, v["error"], v["hex"])


class Messages(unittest.TestCase):
    def test_round_trip(self):
        vectors = load("messages.json")["vectors"]
        by_name = {v["name"]: v for v in vectors}
        self.assertEqual(len(by_name), len(vectors), "vector names are unique")
        self.assertEqual({v["type"] for v in vectors}, set(rh.TYPE_CODES), "every message type has a vector")
        for v in vectors:
            with self.subTest(v["name"]):
                self.assertEqual(rh.encode_message(v["type"], v["fields"]).hex(), v["hex"])
                type_name, flags, fields, used = rh.decode_frame(bytes.fromhex(v["hex"]))
                self.assertEqual((type_name, flags, used), (v["type"], v["flags"], len(v["hex"]) // 2))
                self.assertEqual(fields, v["fields"])
                if v["type"] == "DELTA_BATCH":  # the checksum is that of the state after the batch
                    base = by_name[v["baseSnapshot"]]["fields"]["contests"] if "baseSnapshot" in v else []
                    state = rh.apply_events({r["contestID"]: r for r in base}, fields["events"])
                    self.assertEqual(rh.u64hex(rh.state_checksum(state.values())), fields["checksum"])

    def test_election_vector_is_election_small(self):
        v = next(v for v in load("messages.json")["vectors"] if v["type"] == "ELECTION")
        self.assertEqual(v["fields"]["definition"], ELECTION)
        self.assertEqual(v["fields"]["digest"], rh.u64hex(rh.election_digest(ELECTION)))

    def test_trailing_bytes_are_ignored(self):
        v = next(v for v in load("messages.json")["vectors"] if v["name"] == "ack")
        payload = bytes.fromhex(v["hex"])[6:] + b"\x07\x07"
        self.assertEqual(rh.decode_frame(rh.encode_frame("ACK", payload))[2], v["fields"])


class Specification11(unittest.TestCase):
    """Specification 1.1 only appends (section 2.1): a 1.0 receiver reads the 1.0 fields it knows and skips the rest."""

    def test_appended_fields_follow_the_1_0_bytes(self):
        import generate_vectors
        vectors = load("messages.json")["vectors"]
        extended = [v for v in vectors if v["type"] in ("WELCOME", "SCOREBOARD", "CONTEST", "ELECTION")]
        self.assertGreaterEqual(len(extended), 10)
        for v in extended:
            with self.subTest(v["name"]):
                fields = generate_vectors.without_11(v["type"], v["fields"])
                if v["type"] == "ELECTION":  # what a 1.0 reader decodes: the core alone
                    fields["definition"] = rh.get_definition_core(rh.Reader(rh.encode_definition_core(
                        fields["definition"])))
                old = rh.encode_message(v["type"], fields)
                new = bytes.fromhex(v["hex"])
                self.assertGreater(len(new), len(old))
                self.assertEqual(new[6:6 + len(old) - 6], old[6:])  # the 1.0 payload is a prefix of the 1.1 payload

    def test_a_1_0_reader_of_an_election_with_details_sees_the_core(self):
        v = next(v for v in load("messages.json")["vectors"] if v["name"] == "election-small-details")
        self.assertEqual(v["fields"]["definition"], rh.definition_from_operator(load("election-small-details.json")))
        payload = bytes.fromhex(v["hex"])[6:]
        r = rh.Reader(payload)
        self.assertEqual(r.varint("requestID"), v["fields"]["requestID"])
        digest, start = r.u64("digest"), r.pos
        core = rh.get_definition_core(r)  # all a 1.0 reader decodes; it checks the digest and skips the rest
        self.assertEqual(digest, rh.H(payload[start:r.pos]))
        self.assertEqual(rh.u64hex(digest), load("messages.json")["vectors"][[x["name"] for x in load(
            "messages.json")["vectors"]].index("election-small")]["fields"]["digest"])
        self.assertEqual(core, ELECTION)  # the same core as election-small
        self.assertGreater(r.remaining(), 8)
        self.assertEqual(rh.u64hex(rh.definition_digest(v["fields"]["definition"])), v["fields"]["definitionDigest"])



class Specification12(unittest.TestCase):
    """Specification 1.2's rehearsal marking (SPEC 6.17): one byte 01 after the 1.1 fields, sent only by a rehearsal
    hub; 00 or absent is live data, another value malformedFrame."""

    def test_each_marked_message_is_its_live_form_then_01(self):
        vectors = load("messages.json")["vectors"]
        marked = [v for v in vectors if v["fields"].get("rehearsal")]
        self.assertEqual(sorted(v["type"] for v in marked),
                         ["CONTEST", "DELTA_BATCH", "SCOREBOARD", "SNAPSHOT", "WELCOME"])
        for v in marked:
            with self.subTest(v["name"]):
                live = dict(v["fields"])
                live.pop("rehearsal")
                old = rh.encode_message(v["type"], live)
                new = bytes.fromhex(v["hex"])
                self.assertEqual(len(new), len(old) + 1)
                self.assertEqual(new[6:-1], old[6:])
                self.assertEqual(new[-1], 1)
                self.assertNotIn("rehearsal", rh.decode_frame(old)[2])
                zero = rh.decode_frame(rh.encode_frame(v["type"], new[6:-1] + b"\x00"))[2]
                self.assertIs(zero["rehearsal"], False)
                with self.assertRaises(rh.ProtocolError) as raised:
                    rh.decode_frame(rh.encode_frame(v["type"], new[6:-1] + b"\x02"))
                self.assertEqual(raised.exception.error, "malformedFrame")


class Specification13(unittest.TestCase):
    """Specification 1.3's GOODBYE leader (SPEC 6.18): a string after lastSequence, sent only by a hub that turns a
    desk away to the hub that takes submissions; "" when it knows of none, absent when there is no redirect."""

    def test_leader_round_trip_and_a_1_2_reader(self):
        vectors = {v["name"]: v for v in load("messages.json")["vectors"] if v["type"] == "GOODBYE"}
        for name, leader in (("goodbye-leader", "10.0.0.5:7400"), ("goodbye-no-leader", "")):
            with self.subTest(name):
                v = vectors[name]
                self.assertEqual((v["fields"]["code"], v["fields"]["leader"]), (rh.ERROR_CODES["unexpectedMessage"],
                                                                                 leader))
                self.assertEqual(rh.decode_frame(bytes.fromhex(v["hex"]))[2], v["fields"])
                without = dict(v["fields"])
                without.pop("leader")
                old = rh.encode_message("GOODBYE", without)  # what a 1.2 hub sends: no redirect
                new = bytes.fromhex(v["hex"])
                self.assertEqual(new[6:], old[6:] + rh.encode_varint(len(leader)) + leader.encode())
                self.assertNotIn("leader", rh.decode_frame(old)[2])
                r = rh.Reader(new[6:])  # a 1.2 reader stops after lastSequence and ignores the rest (2.1)
                self.assertEqual((r.u16("code"), r.string(1024, "message"), r.varint("lastSequence")),
                                 (v["fields"]["code"], v["fields"]["message"], v["fields"]["lastSequence"]))
                self.assertEqual(r.remaining(), 1 + len(leader))
        self.assertIn("10.0.0.5:7400", vectors["goodbye-leader"]["fields"]["message"])

    def test_absent_leader_is_no_redirect(self):
        for v in load("messages.json")["vectors"]:
            if v["type"] == "GOODBYE" and v["name"] not in ("goodbye-leader", "goodbye-no-leader"):
                with self.subTest(v["name"]):
                    self.assertNotIn("leader", v["fields"])
                    self.assertNotIn("leader", rh.decode_frame(bytes.fromhex(v["hex"]))[2])

    def test_leader_limit(self):
        base = {"code": 4, "message": "", "lastSequence": 1}
        longest = "h" * (rh.MAX_ADDRESS - 5) + ":7400"
        self.assertEqual(rh.decode_frame(rh.encode_message("GOODBYE", dict(base, leader=longest)))[2]["leader"],
                         longest)
        with self.assertRaises(ValueError):  # the encoder refuses 262 bytes
            rh.encode_message("GOODBYE", dict(base, leader=longest + "0"))
        payload = rh.encode_payload("GOODBYE", base) + rh.encode_varint(rh.MAX_ADDRESS + 1)  # checked before bytes
        with self.assertRaises(rh.ProtocolError) as raised:
            rh.decode_frame(rh.encode_frame("GOODBYE", payload))
        self.assertEqual(raised.exception.error, "limitExceeded")
        v = next(v for v in load("invalid.json")["vectors"] if v["name"] == "goodbye-leader-262-bytes")
        self.assertEqual(v["error"], "limitExceeded")


class Derived(unittest.TestCase):
    """derived.json: records, seat changes and scoreboards as the hub derives them (4.1, 6.13, 7.2)."""

    def definitions(self):
        return {v["name"]: v["fields"]["definition"] for v in load("messages.json")["vectors"]
                if v["type"] == "ELECTION"}

    def test_records_and_seat_changes(self):
        definitions = self.definitions()
        entries = load("derived.json")["records"]
        self.assertGreaterEqual(len(entries), 10)
        for e in entries:
            with self.subTest(e["name"]):
                defn = definitions[e["election"]]
                rec = rh.record_from_declaration(defn, e["declaration"], e["deskID"])
                self.assertEqual(rec, e["record"])
                self.assertEqual(rh.encode_record(rec).hex(), e["recordHex"])
                self.assertEqual(rh.seat_changes(defn, rec), e["seatChanges"])
        by_name = {e["name"]: e for e in entries}
        self.assertEqual(by_name["votes-with-zero"]["recordHex"], by_name["votes-without-zero"]["recordHex"])

    def test_scoreboards(self):
        definitions = self.definitions()
        for e in load("derived.json")["scoreboards"]:
            with self.subTest(e["name"]):
                records = [rh.decode_record(bytes.fromhex(h)) for h in e["records"]]
                self.assertEqual(rh.derive_scoreboard(definitions[e["election"]], records), e["scoreboard"])
        v = next(v for v in load("messages.json")["vectors"] if v["name"] == "scoreboard-derived")
        first = load("derived.json")["scoreboards"][0]["scoreboard"]
        self.assertEqual({k: x for k, x in v["fields"].items() if k not in ("requestID", "sequence")}, first)


class Compression(unittest.TestCase):
    def test_vectors(self):
        c = load("compression.json")
        self.assertEqual(c["dictionaryHex"], DICTIONARY.hex())
        for v in c["vectors"]:
            with self.subTest(v["name"]):
                frame = bytes.fromhex(v["hex"])
                type_code, flags, body, used = rh.split_frame(frame, "established")
                self.assertEqual((rh.MESSAGE_TYPES[type_code], flags, used), (v["type"], 1, len(frame)))
                self.assertEqual(rh.decompress(body, v["format"], DICTIONARY).hex(), v["payloadHex"])
                fields = rh.decode_payload(v["type"], bytes.fromhex(v["payloadHex"]))
                self.assertEqual(rh.encode_payload(v["type"], fields).hex(), v["payloadHex"])
                # Byte equality of compressed output holds for the same zlib (1.2.x/1.3, level 6, memLevel 8).
                self.assertEqual(rh.encode_message(v["type"], fields, v["format"], DICTIONARY).hex(), v["hex"])


class Checksums(unittest.TestCase):
    def test_hash_and_state(self):
        c = load("checksum.json")
        for v in c["hash"]:
            self.assertEqual(rh.u64hex(rh.H(bytes.fromhex(v["hex"]))), v["value"], v["hex"][:40])
        for v in c["state"]:
            records = [bytes.fromhex(h) for h in v["records"]]
            self.assertEqual(rh.u64hex(rh.state_checksum_of_bytes(records)), v["checksum"])
            decoded = [rh.decode_record(b) for b in records]
            self.assertEqual([rh.encode_record(r) for r in decoded], records)
            self.assertEqual(rh.u64hex(rh.state_checksum(decoded)), v["checksum"])

    def test_election_and_definition_digests(self):
        entries = load("checksum.json")["electionDigests"]
        self.assertEqual([d["election"] for d in entries], ["election-small.json", "election-small-details.json"])
        for d in entries:
            with self.subTest(d["election"]):
                defn = rh.definition_from_operator(load(d["election"]))
                self.assertEqual(rh.encode_definition_core(defn).hex(), d["coreHex"])
                self.assertEqual(rh.encode_definition(defn).hex(), d["definitionHex"])
                self.assertTrue(d["definitionHex"].startswith(d["coreHex"]))
                self.assertEqual(rh.u64hex(rh.election_digest(defn)), d["electionDigest"])
                self.assertEqual(rh.u64hex(rh.H(bytes.fromhex(d["coreHex"]))), d["electionDigest"])
                self.assertEqual(rh.u64hex(rh.definition_digest(defn)), d["definitionDigest"])
                self.assertEqual(rh.get_definition(rh.Reader(bytes.fromhex(d["definitionHex"]))), defn)
                self.assertEqual(rh.get_definition(rh.Reader(bytes.fromhex(d["coreHex"]))),
                                 {k: ([{x: y for x, y in c.items() if x not in ("gssCode", "seatsBefore")}
                                       for c in v] if k == "contests" else v)
                                  for k, v in defn.items() if k != "seatsBeforeNote"})
        # Details change the definition digest, not the election digest.
        self.assertEqual(entries[0]["electionDigest"], entries[1]["electionDigest"])
        self.assertNotEqual(entries[0]["definitionDigest"], entries[1]["definitionDigest"])


class Invalid(unittest.TestCase):
    def test_each_invalid_vector_raises_its_error(self):
        vectors = load("invalid.json")["vectors"]
        self.assertEqual(len({v["name"] for v in vectors}), len(vectors), "vector names are unique")
        for v in vectors:
            with self.subTest(v["name"]):
                data = bytes.fromhex(v["hex"])
                fmt = v.get("format", "deflate")
                if v["error"] == "none":  # decodes to decodesTo
                    type_name, _, fields, used = rh.decode_frame(data, v["state"], fmt=fmt, dictionary=DICTIONARY)
                    self.assertEqual((fields, used), (v["decodesTo"], len(data)))
                    if v.get("form") == "1.0":  # a 1.0 peer's message: the same bytes without the 1.1 fields
                        self.assertEqual(rh.encode_message(type_name, fields), data)
                    else:  # HELLO's unknown bits are masked off, so its fields re-encode to other bytes
                        self.assertNotEqual(rh.encode_message(type_name, fields), data)
                    continue
                self.assertNotIn("decodesTo", v)
                if v["error"] == "unsupportedVersion":
                    hello = rh.decode_frame(data, v["state"], fmt=fmt, dictionary=DICTIONARY)[2]
                    self.assertEqual(rh.hub_answer_to_hello(hello).hex(), v["expectReplyHex"])
                    continue
                with self.assertRaises(rh.ProtocolError) as cm:
                    rh.decode_frame(data, v["state"], fmt=fmt, dictionary=DICTIONARY)
                self.assertEqual((cm.exception.error, cm.exception.detail), (v["error"], v.get("detail")))

    def test_unknown_hello_compression_bits_are_masked_off(self):
        v = next(v for v in load("invalid.json")["vectors"] if v["name"] == "hello-compression-unknown-bits")
        data = bytes.fromhex(v["hex"])
        # The vector differs from the encoding of what it decodes to in the compression byte only: 83 against 03.
        reencoded = rh.encode_message("HELLO", v["decodesTo"])
        self.assertEqual([(i, data[i], reencoded[i]) for i in range(len(data)) if data[i] != reencoded[i]],
                         [(len(data) - 14, 0x83, 0x03)])
        for byte in range(256):  # every unknown bit pattern decodes, to the known bits alone
            hello = rh.encode_frame("HELLO", data[6:-14] + bytes([byte]) + data[-13:])
            self.assertEqual(rh.decode_frame(hello, "preHandshake")[2]["compression"], byte & 3)
        with self.assertRaises(ValueError):  # and the encoder refuses to write them
            rh.encode_message("HELLO", dict(v["decodesTo"], compression=0x83))

    def test_length_4096_is_accepted_before_handshake(self):
        data = b"\x00\x00\x10\x00" + bytes(4096)
        with self.assertRaises(rh.ProtocolError) as cm:  # passes the length check, then type 0x00 is unknown
            rh.decode_frame(data, "preHandshake")
        self.assertEqual(cm.exception.error, "unknownMessageType")


class Generator(unittest.TestCase):
    def test_regeneration_is_byte_identical(self):
        import generate_vectors
        with tempfile.TemporaryDirectory() as tmp:
            generate_vectors.main(["--out", tmp])
            for path in sorted(Path(tmp).iterdir()):
                self.assertEqual(path.read_bytes(), (VECTORS / path.name).read_bytes(), path.name)


if __name__ == "__main__":
    unittest.main()
