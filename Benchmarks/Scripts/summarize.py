#!/usr/bin/env python3
"""Turns the text output of `swift package benchmark` into the tables of Benchmarks/README.md.

    swift package benchmark --no-progress | tee run1.txt
    swift package benchmark --no-progress | tee run2.txt
    python3 Scripts/summarize.py run1.txt run2.txt

Takes the median (p50) wall clock and malloc count per operation of each benchmark and prints, for the codec suite,
the ratios of the JSON and protobuf baselines to the binary codec. Given several runs, it keeps each benchmark's
lowest median: other work on the machine only ever adds time, so the lowest is the least disturbed; and it prints
the spread: each benchmark's lowest and highest median over the runs, and their ratio.
"""
import re
import sys

BOX = "╒╞├╘│═─"


def parse(lines):
    """{benchmark name: {"time": ns, "mallocs": n}} from the p50 column."""
    results = {}
    name = None
    columns = None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[0] not in BOX:
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            if following.startswith("╒"):
                name = stripped
                results.setdefault(name, {})
                columns = None
            continue
        if not stripped.startswith("│") or name is None:
            continue
        cells = [cell.strip() for cell in stripped.strip("│").split("│")]
        if cells[0] == "Metric":
            columns = cells
            continue
        if columns is None:
            continue
        value = float(cells[columns.index("p50")])
        if cells[0].startswith("Time (wall clock)"):
            unit = re.search(r"\((ns|us|μs|ms|s)\)", cells[0]).group(1)
            scale = {"ns": 1, "us": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9}[unit]
            results[name]["time"] = value * scale
        elif cells[0].startswith("residentBytesPerEvent") or cells[0].startswith("heapBytesPerEvent"):
            results[name][cells[0].split()[0]] = value
        elif cells[0].startswith("Malloc (total)"):
            unit = re.search(r"\((K|M)\)", cells[0])
            results[name]["mallocs"] = value * ({"K": 1e3, "M": 1e6}[unit.group(1)] if unit else 1)
    return results


def duration(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def cell(result):
    if not result or "time" not in result:
        return "–"
    return f"{duration(result['time'])}, {result.get('mallocs', 0):.0f} mallocs"


def ratio(baseline, ours):
    if not baseline or not ours or "time" not in baseline or "time" not in ours:
        return "–"
    value = baseline["time"] / ours["time"]
    return f"{value:.1f}x" if value < 10 else f"{value:.0f}x"


def rate(ns):
    per_second = 1e9 / ns
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f} M/s"
    if per_second >= 1e3:
        return f"{per_second / 1e3:.0f} k/s"
    return f"{per_second:.0f} /s"


def main():
    runs = [open(path, encoding="utf-8").read().splitlines() for path in sys.argv[1:]] or [sys.stdin.read().splitlines()]
    results = {}
    medians = {}
    for run in runs:
        for name, result in parse(run).items():
            best = results.setdefault(name, dict(result))
            if "time" in result:
                medians.setdefault(name, []).append(result["time"])
                if result["time"] < best.get("time", float("inf")):
                    best["time"] = result["time"]

    print("Codec, what is sent (p50 per message, mallocs per message): the frame the hub sends (binary+deflate: raw "
          "deflate with the preset dictionary, kept only when smaller; SUBMIT is never compressed) against JSON and "
          "protobuf uncompressed; ratios are the baseline's time over the hub's:\n")
    print("| message | | binary+deflate (as the hub sends) | JSON (Codable) | protobuf "
          "| vs JSON | vs protobuf | binary, uncompressed | uncompressed vs JSON | uncompressed vs protobuf |")
    print("| --- | --- | --- | --- | --- | --: | --: | --- | --: | --: |")
    for message in ["SUBMIT", "DELTA_BATCH_1", "DELTA_BATCH_64", "SNAPSHOT_234"]:
        for direction in ["encode", "decode"]:
            get = lambda codec: results.get(f"{message}.{direction}.{codec}")
            binary = get("binary")
            if binary is None:
                continue
            # SUBMIT is not compressible: what is sent is the binary payload's frame.
            sent = get("binary+deflate") or binary
            print(f"| {message} | {direction} | {cell(sent)} | {cell(get('JSON'))} | {cell(get('protobuf'))} "
                  f"| {ratio(get('JSON'), sent)} | {ratio(get('protobuf'), sent)} | {cell(binary)} "
                  f"| {ratio(get('JSON'), binary)} | {ratio(get('protobuf'), binary)} |")

    print("\nCompression (p50 per payload):\n")
    print("| | time | per declaration | mallocs |")
    print("| --- | --: | --: | --: |")
    counts = {"DELTA_BATCH_1": 1, "DELTA_BATCH_64": 64, "SNAPSHOT_234": 234}
    for name, result in results.items():
        if not (name.startswith("compress.") or name.startswith("inflate.")) or "time" not in result:
            continue
        count = next((n for label, n in counts.items() if f".{label}." in name), 1)
        print(f"| {name} | {duration(result['time'])} | {duration(result['time'] / count)} "
              f"| {result.get('mallocs', 0):.0f} |")

    print("\nHub core (p50; submit, replay and submit-to-ack are per event):\n")
    print("| | time | rate | mallocs |")
    print("| --- | --: | --: | --: |")
    for name, result in results.items():
        if not name.startswith(("HubState", "HubMachine.submit", "FileJournal")) or "time" not in result:
            continue
        print(f"| {name} | {duration(result['time'])} | {rate(result['time'])} | {result.get('mallocs', 0):.0f} |")

    for name, result in results.items():
        for metric in ["residentBytesPerEvent", "heapBytesPerEvent"]:
            if metric in result:
                print(f"\n{name}: {result[metric]:.0f} {metric} (p50 of its iterations, first run given)")

    if len(runs) > 1:
        print(f"\nSpread over {len(runs)} runs: each benchmark's lowest and highest median, and their ratio:\n")
        print("| benchmark | lowest median | highest median | highest / lowest |")
        print("| --- | --: | --: | --: |")
        for name, values in medians.items():
            if len(values) < 2:
                continue
            print(f"| {name} | {duration(min(values))} | {duration(max(values))} | {max(values) / min(values):.2f} |")
        ratios = sorted(max(v) / min(v) for v in medians.values() if len(v) > 1)
        if ratios:
            print(f"\n{len(ratios)} benchmarks; highest / lowest median: median {ratios[len(ratios) // 2]:.2f}, "
                  f"largest {ratios[-1]:.2f}; within 5%: {sum(r <= 1.05 for r in ratios)}, "
                  f"within 10%: {sum(r <= 1.10 for r in ratios)}")

if __name__ == "__main__":
    main()
