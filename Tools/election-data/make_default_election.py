#!/usr/bin/env python3
"""Generate the embedded default election file (England, 4 May 2023).

Reads le2023-councils.csv, le2023-mayors.csv and le2023-councillor-change.csv
(see SOURCES.md next to them) and writes the JSON that ElectionDefaults ships as
england-2023.json.

Python 3.11, standard library only. The output is deterministic: running the
script twice on the same CSVs gives identical bytes.

Usage (from anywhere):
    python3 Tools/election-data/make_default_election.py \
        [--data ../shared/data] [--out Sources/ElectionDefaults/Resources/england-2023.json]

Relative --data / --out paths are resolved against the repository root.
Nothing is estimated: every number comes from a CSV cell; empty cells become
null (or are left out of a seat map).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_DATA = Path("..") / "shared" / "data"
DEFAULT_OUT = Path("Sources") / "ElectionDefaults" / "Resources" / "england-2023.json"

COUNCILS_CSV = "le2023-councils.csv"
MAYORS_CSV = "le2023-mayors.csv"
CHANGE_CSV = "le2023-councillor-change.csv"

ELECTION_ID = "england-2023"
ELECTION_NAME = "English local elections, 4 May 2023"
ELECTION_DATE = "2023-05-04"

SOURCES_TEXT = (
    "Compiled from public web pages: Wikipedia articles on the 2023 council and "
    "mayoral elections and mirrors of them, BBC results pages, council websites, "
    "local press, the Press Association's alphabetical list of the 230 councils "
    "with elections, mySociety's uk_local_authority_names_and_codes (council "
    "names, GSS codes, regions and council types) and the House of Commons "
    "Library briefing CBP-9798. Each council's composition before the election "
    "(seatsBefore) is its May 2022 make-up from Open Council Data UK "
    "(opencouncildata.co.uk), whose CSV downloads are public domain. Each row's "
    "sources are listed in the project's data files (le2023-councils.csv, "
    "le2023-mayors.csv and le2023-councillor-change.csv, described in SOURCES.md) "
    "and, where a result is included, in the contest's reference. Nothing was "
    "estimated: where a figure was not found it is left empty, and figures worked "
    "out from other figures are marked in the notes."
)

# Shown wherever a councillor change is shown (it travels in the election definition).
SEATS_BEFORE_NOTE = (
    "Councillor changes are against each council's make-up in May 2022 (Open "
    "Council Data UK, opencouncildata.co.uk), not on the eve of the 2023 poll. "
    "By-elections and defections since are not in it, and the 26 councils that "
    "changed size on new wards are compared with their old council. So the "
    "national sums differ from the BBC's, which count from the 2019 or notional "
    "results: by tens of seats for the Conservatives, Liberal Democrats and "
    "Greens, by about a hundred for Labour and by a few hundred for independents "
    "and others. Ashfield, Boston, Epsom and Ewell and Uttlesford are left out: "
    "their ruling local parties are not told apart from other independents in "
    "the May 2022 figures."
)

# Party list, in this order. Codes are what contests and references use.
PARTIES: list[tuple[str, str]] = [
    ("CON", "Conservative"),
    ("LAB", "Labour"),
    ("LD", "Liberal Democrats"),
    ("GRN", "Green"),
    ("IND", "Independents and others"),
    ("AIND", "Ashfield Independents"),
    ("BI", "Boston Independent"),
    ("RA", "Residents' Associations"),
    ("R4U", "Residents for Uttlesford"),
    ("MI", "Mansfield Independents"),
    ("TUSC", "Trade Unionist and Socialist Coalition"),
]
PARTY_CODES = [code for code, _ in PARTIES]
GROUP_CODES = {"IND"}

# CSV seat columns -> party code.
SEAT_COLUMNS: list[tuple[str, str]] = [
    ("seats_after_CON", "CON"),
    ("seats_after_LAB", "LAB"),
    ("seats_after_LD", "LD"),
    ("seats_after_GRN", "GRN"),
    ("seats_after_IND_OTHER", "IND"),
]

# le2023-councillor-change.csv columns of the composition before -> party code.
BEFORE_COLUMNS: list[tuple[str, str]] = [
    ("seats_before_CON", "CON"),
    ("seats_before_LAB", "LAB"),
    ("seats_before_LD", "LD"),
    ("seats_before_GRN", "GRN"),
    ("seats_before_IND_OTHER", "IND"),
]

COUNCIL_TYPES = {
    "district (non-metropolitan)": "district",
    "metropolitan borough": "metropolitan",
    "unitary authority": "unitary",
}

# Control codes allowed in control_before / control_after.
CONTROL_CODES = {"CON", "LAB", "LD", "GRN", "NOC", "AIND", "BI", "RA", "R4U"}
LOCAL_CONTROL_CODES = {"AIND", "BI", "RA", "R4U"}

# Where control_after is a local party, its seats sit inside IND_OTHER. The
# split below is read by hand from each row's notes; `evidence` must appear in
# the notes verbatim, and the local seats must not exceed IND_OTHER.
LOCAL_PARTY_SPLITS: dict[str, dict] = {
    "Ashfield": {"code": "AIND", "seats": 32,
                 "evidence": "oth = Ashfield Independents 32"},
    "Boston": {"code": "BI", "seats": 18,
               "evidence": "oth = Boston Independent 18 (majority) + Independent 5 + Blue Revolution 1"},
    "Epsom and Ewell": {"code": "RA", "seats": 26,
                        "evidence": "oth = Residents' Associations 26"},
    "Uttlesford": {"code": "R4U", "seats": 22,
                   "evidence": "oth = Residents for Uttlesford 22 + Independent 2"},
}

# Party names as written in the mayors CSV's candidate_party / winner_party.
MAYOR_PARTY_CODES = {
    "Conservative": "CON",
    "Labour": "LAB",
    "Liberal Democrats": "LD",
    "Green": "GRN",
    "Independent": "IND",
    "TUSC": "TUSC",
    "Mansfield Independents": "MI",
}

OUTCOME_RE = re.compile(r"^([A-Z0-9]+) (?:hold|gain from ([A-Z0-9]+))$")


def fail(message: str) -> None:
    sys.exit(f"make_default_election: error: {message}")


def slugify(text: str) -> str:
    s = text.lower().replace("&", " and ")
    s = s.replace("'", "").replace("\u2019", "")
    s = re.sub(r"[^a-z0-9]+", "-", s)
    return s.strip("-")


def opt_int(value: str, what: str) -> int | None:
    value = value.strip()
    if value == "":
        return None
    if not re.fullmatch(r"\d+", value):
        fail(f"{what}: not a whole number: {value!r}")
    return int(value)


def opt_number(value: str, what: str) -> int | float | None:
    value = value.strip()
    if value == "":
        return None
    if re.fullmatch(r"\d+", value):
        return int(value)
    if re.fullmatch(r"\d+\.\d+", value):
        return float(value)
    fail(f"{what}: not a number: {value!r}")
    return None  # unreachable


def opt_control(value: str, what: str) -> str | None:
    value = value.strip()
    if value == "":
        return None
    if value not in CONTROL_CODES:
        fail(f"{what}: unknown control code {value!r}")
    return value


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        fail(f"missing input file {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def build_regions(council_rows, mayor_rows) -> tuple[list[dict], dict[str, str]]:
    names = {row["region"] for row in council_rows} | {row["region"] for row in mayor_rows}
    by_id: dict[str, str] = {}
    for name in names:
        rid = slugify(name)
        if rid in by_id and by_id[rid] != name:
            fail(f"region id clash: {rid!r} for {by_id[rid]!r} and {name!r}")
        by_id[rid] = name
    regions = [{"id": rid, "name": by_id[rid]} for rid in sorted(by_id)]
    name_to_id = {name: rid for rid, name in by_id.items()}
    return regions, name_to_id


def council_reference(row: dict[str, str]) -> dict | None:
    name = row["council"]
    basis = row["seat_basis"].strip()
    if basis == "control_only":
        return None
    control = opt_control(row["control_after"], f"{name} control_after")

    seats: dict[str, int] = {}
    for column, code in SEAT_COLUMNS:
        n = opt_int(row[column], f"{name} {column}")
        if n is not None:
            seats[code] = n

    split = LOCAL_PARTY_SPLITS.get(name)
    if control in LOCAL_CONTROL_CODES and split is None:
        fail(f"{name}: control_after {control} has no entry in LOCAL_PARTY_SPLITS")
    if split is not None:
        if split["code"] != control:
            fail(f"{name}: split is for {split['code']} but control_after is {control}")
        if split["evidence"] not in row["notes"]:
            fail(f"{name}: notes no longer contain {split['evidence']!r}")
        other = seats.get("IND")
        if other is None or split["seats"] > other:
            fail(f"{name}: cannot take {split['seats']} seats out of IND_OTHER={other}")
        seats["IND"] = other - split["seats"]
        seats[split["code"]] = split["seats"]
        total = opt_int(row["total_seats"], f"{name} total_seats")
        if total is None or 2 * split["seats"] <= total:
            fail(f"{name}: {split['code']} {split['seats']} is not a majority of {total}")

    ordered = {code: seats[code] for code in PARTY_CODES if seats.get(code, 0) > 0}
    return {
        "seats": ordered,
        "control": control,
        "basis": basis,
        "source": row["source"],
        "notes": row["notes"],
    }


def seats_before(row: dict[str, str], change_row: dict[str, str] | None) -> dict | None:
    """The whole council's seats per party before the poll, or None.

    None where the result's seats move a local party out of IND (LOCAL_PARTY_SPLITS): the May 2022 figures
    have only one 'other' column, so the local party's seats before cannot be told apart from other
    independents, and comparing would show the local party gaining every seat it holds."""
    name = row["council"]
    if change_row is None:
        fail(f"{name}: no row in {CHANGE_CSV}")
    if change_row["council"] != name and change_row["council"] != "Lincoln":
        fail(f"{name}: {CHANGE_CSV} names it {change_row['council']!r}")
    if name in LOCAL_PARTY_SPLITS:
        return None
    seats: dict[str, int] = {}
    for column, code in BEFORE_COLUMNS:
        n = opt_int(change_row[column], f"{name} {column}")
        if n is None:
            fail(f"{name}: {column} is empty")
        if n > 0:
            seats[code] = n
    if not seats:
        fail(f"{name}: the composition before has no seats")
    return seats


def build_councils(rows, region_ids, change_by_gss) -> list[dict]:
    rows = sorted(rows, key=lambda r: r["council"].casefold())
    contests = []
    for index, row in enumerate(rows, start=1):
        name = row["council"]
        ctype = COUNCIL_TYPES.get(row["council_type"])
        if ctype is None:
            fail(f"{name}: unknown council_type {row['council_type']!r}")
        contests.append({
            "id": index,
            "slug": slugify(name),
            "name": name,
            "region": region_ids[row["region"]],
            "kind": "council",
            "councilType": ctype,
            "gssCode": row["gss_code"],
            "totalSeats": opt_int(row["total_seats"], f"{name} total_seats"),
            "seatsUp": opt_int(row["seats_up"], f"{name} seats_up"),
            "controlBefore": opt_control(row["control_before"], f"{name} control_before"),
            "seatsBefore": seats_before(row, change_by_gss.get(row["gss_code"])),
            "reference": council_reference(row),
        })
    return contests


def build_mayoralties(rows, region_ids, first_id: int) -> list[dict]:
    groups: dict[str, list[dict[str, str]]] = {}
    for row in rows:  # keeps CSV order within each mayoralty
        groups.setdefault(row["mayoralty"], []).append(row)

    contests = []
    for offset, name in enumerate(sorted(groups, key=str.casefold)):
        group = groups[name]
        first = group[0]
        for key in ("gss_code", "region", "winner", "winner_party", "outcome",
                    "electorate", "turnout_pct"):
            values = {r[key] for r in group}
            if len(values) != 1:
                fail(f"{name}: column {key} differs between rows: {sorted(values)}")

        match = OUTCOME_RE.match(first["outcome"].strip())
        if not match:
            fail(f"{name}: cannot read outcome {first['outcome']!r}")
        winner_code, previous = match.group(1), match.group(2)
        control_before = previous or winner_code

        def party_code(label: str) -> str:
            code = MAYOR_PARTY_CODES.get(label)
            if code is None:
                fail(f"{name}: unknown party {label!r}")
            return code

        if party_code(first["winner_party"]) != winner_code:
            fail(f"{name}: winner_party {first['winner_party']!r} vs outcome {first['outcome']!r}")
        for code in (winner_code, control_before):
            if code not in PARTY_CODES:
                fail(f"{name}: outcome party {code!r} is not in the party list")

        entries = []
        for row in group:
            votes = opt_int(row["first_round_votes"], f"{name} {row['candidate']} votes")
            if votes is None:
                fail(f"{name}: {row['candidate']} has no vote count")
            entries.append((row["candidate"], party_code(row["candidate_party"]), votes,
                            row["elected"].strip()))
        entries.sort(key=lambda e: -e[2])  # stable: ties keep CSV order

        elected = [i for i, e in enumerate(entries) if e[3] == "yes"]
        if len(elected) != 1:
            fail(f"{name}: expected one elected candidate, got {len(elected)}")
        winner = elected[0]
        if entries[winner][0] != first["winner"] or winner != 0:
            fail(f"{name}: elected candidate is not the winner with most votes")

        slug_place = name[len("Mayor of "):] if name.startswith("Mayor of ") else name
        contests.append({
            "id": first_id + offset,
            "slug": "mayor-of-" + slugify(slug_place),
            "name": name,
            "region": region_ids[first["region"]],
            "kind": "mayoralty",
            "gssCode": first["gss_code"],
            "controlBefore": control_before,
            "candidates": [{"name": e[0], "party": e[1]} for e in entries],
            "reference": {
                "candidateVotes": [e[2] for e in entries],
                "winner": winner,
                "turnoutPercent": opt_number(first["turnout_pct"], f"{name} turnout_pct"),
                "electorate": opt_int(first["electorate"], f"{name} electorate"),
                "control": entries[winner][1],
                "source": first["source"],
                "notes": first["notes"],
            },
        })
    return contests


def validate(doc: dict) -> None:
    party_codes = {p["code"] for p in doc["parties"]}
    region_ids = {r["id"] for r in doc["regions"]}
    ids = [c["id"] for c in doc["contests"]]
    slugs = [c["slug"] for c in doc["contests"]]
    if ids != list(range(1, len(ids) + 1)):
        fail("contest ids are not 1..N")
    if len(set(slugs)) != len(slugs):
        dupes = sorted({s for s in slugs if slugs.count(s) > 1})
        fail(f"duplicate slugs: {dupes}")
    for c in doc["contests"]:
        if c["region"] not in region_ids:
            fail(f"{c['name']}: unknown region {c['region']}")
        before = c["controlBefore"]
        if before is not None and before != "NOC" and before not in party_codes:
            fail(f"{c['name']}: controlBefore {before} not a party")
        ref = c["reference"]
        if ref is not None:
            control = ref["control"]
            if control is not None and control != "NOC" and control not in party_codes:
                fail(f"{c['name']}: control {control} not a party")
            for code in ref.get("seats", {}):
                if code not in party_codes:
                    fail(f"{c['name']}: seat code {code} not a party")
        for code in c.get("seatsBefore") or {}:
            if code not in party_codes:
                fail(f"{c['name']}: seats-before code {code} not a party")
        for cand in c.get("candidates", []):
            if cand["party"] not in party_codes:
                fail(f"{c['name']}: candidate party {cand['party']} not a party")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder with the two CSVs (default: ../shared/data from the repo root)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output JSON file (default: %(default)s from the repo root)")
    args = parser.parse_args(argv)

    data_dir = args.data if args.data.is_absolute() else REPO_ROOT / args.data
    out_path = args.out if args.out.is_absolute() else REPO_ROOT / args.out

    council_rows = read_csv(data_dir / COUNCILS_CSV)
    mayor_rows = read_csv(data_dir / MAYORS_CSV)
    change_rows = read_csv(data_dir / CHANGE_CSV)
    change_by_gss = {row["gss_code"]: row for row in change_rows}
    if len(change_by_gss) != len(change_rows) or set(change_by_gss) != {r["gss_code"] for r in council_rows}:
        fail(f"{CHANGE_CSV} does not have exactly one row per council of {COUNCILS_CSV} (by gss_code)")

    regions, region_ids = build_regions(council_rows, mayor_rows)
    councils = build_councils(council_rows, region_ids, change_by_gss)
    mayors = build_mayoralties(mayor_rows, region_ids, first_id=len(councils) + 1)

    doc = {
        "id": ELECTION_ID,
        "name": ELECTION_NAME,
        "date": ELECTION_DATE,
        "sources": SOURCES_TEXT,
        "seatsBeforeNote": SEATS_BEFORE_NOTE,
        # IND is a bucket of independents and minor parties, not one party: it never controls a council
        # (Castle Point's 32 of 41 are two local parties of 16 each), so it is marked as a group.
        "parties": [
            {"code": code, "name": name, **({"group": True} if code in GROUP_CODES else {})}
            for code, name in PARTIES
        ],
        "regions": regions,
        "contests": councils + mayors,
    }
    validate(doc)

    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text, encoding="utf-8", newline="\n")

    # Summary, including councils whose reference seats do not add up.
    with_ref = [c for c in councils if c["reference"] is not None]
    print(f"wrote {out_path} ({len(text.encode('utf-8'))} bytes)")
    print(f"contests: {len(doc['contests'])} ({len(councils)} councils, {len(mayors)} mayoralties); "
          f"parties: {len(PARTIES)}; regions: {len(regions)}")
    print(f"councils with a reference: {len(with_ref)}; without: {len(councils) - len(with_ref)}")
    without_before = [c["name"] for c in councils if c["seatsBefore"] is None]
    print(f"councils with a composition before: {len(councils) - len(without_before)}; "
          f"without: {', '.join(without_before)}")
    for c in with_ref:
        total = sum(c["reference"]["seats"].values())
        if total != c["totalSeats"]:
            print(f"  seats do not sum to totalSeats: {c['name']}: {total} of {c['totalSeats']} "
                  f"(basis {c['reference']['basis']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
