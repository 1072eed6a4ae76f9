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

    def test_election_digest(self):
        d = load("checksum.json")["electionDigest"]
        self.assertEqual(d["election"], "election-small.json")
        self.assertEqual(rh.encode_definition(ELECTION).hex(), d["definitionHex"])
        self.assertEqual(rh.u64hex(rh.election_digest(ELECTION)), d["digest"])
        self.assertEqual(rh.get_definition(rh.Reader(bytes.fromhex(d["definitionHex"]))), ELECTION)


class Invalid(unittest.TestCase):
    def test_each_invalid_vector_raises_its_error(self):
        vectors = load("invalid.json")["vectors"]
        self.assertEqual(len({v["name"] for v in vectors}), len(vectors), "vector names are unique")
        for v in vectors:
            with self.subTest(v["name"]):
                data = bytes.fromhex(v["hex"])
                fmt = v.get("format", "deflate")
                if v["error"] == "none":  # decodes to decodesTo; those fields are not re-encoded to these bytes
                    type_name, _, fields, used = rh.decode_frame(data, v["state"], fmt=fmt, dictionary=DICTIONARY)
                    self.assertEqual((fields, used), (v["decodesTo"], len(data)))
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
