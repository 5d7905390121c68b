#!/usr/bin/env python3
"""Turns the lines of bench/run-compare.sh (results.txt) into the Markdown tables of
bench/README.md. Module cost = a configuration's mean time per transaction minus pam_permit's
mean in the same population, as the issue defines it; for the runs in a fresh process per
transaction, minus pam_permit's run in a fresh process."""
import re
import sys
from collections import OrderedDict


def parse(path):
    rows = []
    machine = []
    for line in open(path):
        line = line.strip()
        if not line.startswith("population="):
            if line:
                machine.append(line)
            continue
        head, _, rest = line.partition(" label=")
        population = int(head.split("=")[1])
        fields = dict(re.findall(r"(\S+?)=(\S+)", rest))
        label = re.split(r" (?:result|target=|VmHWM|synchronous=)", rest)[0]
        rows.append((population, label, fields, rest))
    return machine, rows


def results_of(fields):
    keys = [k for k in fields if k.startswith("PAM_") or k.startswith("daemon-")]
    return ", ".join(f"{k} {fields[k]}" for k in keys) + (
        f"; first use refused {fields['setup_failures']}"
        if fields.get("setup_failures", "0") != "0" else "")


def main():
    machine, rows = parse(sys.argv[1])
    print("\n".join(f"    {m}" for m in machine))
    populations = list(OrderedDict.fromkeys(p for p, *_ in rows))
    fresh = " (fresh process)"
    permit = {(p, l.endswith(fresh)): float(f["mean_us"]) for p, l, f, _ in rows
              if l in ("permit", "permit" + fresh)}
    permit50 = {(p, l.endswith(fresh)): float(f["p50_us"]) for p, l, f, _ in rows
                if l in ("permit", "permit" + fresh)}
    timed = [(p, l, f) for p, l, f, _ in rows if "tps" in f and "callgrind" not in l]

    for population in populations:
        print(f"\n### {population:,} enrolled users\n")
        print("| configuration, path | transactions | per second | mean µs | p50 µs | p99 µs |"
              " module cost µs (mean / p50) | results |")
        print("|---|---|---|---|---|---|---|---|")
        for p, label, f in timed:
            if p != population or "processes" in label:
                continue
            cost = float(f["mean_us"]) - permit.get((p, label.endswith(fresh)), 0.0)
            cost50 = float(f["p50_us"]) - permit50.get((p, label.endswith(fresh)), 0.0)
            shown_cost = ("" if label.startswith("permit") or label.startswith("direct")
                          else f"{cost:.0f} / {cost50:.0f}")
            print(f"| {label} | {f['tx']} | {float(f['tps']):.0f} | {float(f['mean_us']):.0f} |"
                  f" {float(f['p50_us']):.0f} | {float(f['p99_us']):.0f} | {shown_cost} |"
                  f" {results_of(f)} |")

    scaled = OrderedDict()
    for p, label, f in timed:
        if "processes" in label or "kill" in label:
            continue
        scaled.setdefault(label, {})[p] = f
    print("\n### Scaling: transactions per second (module cost from p50, µs) by enrolled users\n")
    print("| configuration, path | " + " | ".join(f"{p:,}" for p in populations) + " |")
    print("|---|" + "---|" * len(populations))
    for label, by_population in scaled.items():
        cells = []
        for p in populations:
            f = by_population.get(p)
            if not f:
                cells.append("")
                continue
            cost = float(f["p50_us"]) - permit50.get((p, label.endswith(fresh)), 0.0)
            cells.append(f"{float(f['tps']):.0f} ({cost:.0f})" if not label.startswith("permit")
                         else f"{float(f['tps']):.0f}")
        print(f"| {label} | " + " | ".join(cells) + " |")

    concurrent = [(p, l, f) for p, l, f in timed if "processes" in l]
    if concurrent:
        print("\n### Concurrency: right codes of fresh users, then every accepted code again\n")
        print("| configuration | processes | enrolled | transactions | per second | p50 µs |"
              " p99 µs | succeeded | accepted again (lost updates) |")
        print("|---|---|---|---|---|---|---|---|---|")
        pending = None
        for p, label, f in concurrent:
            if " right, " in label:
                pending = (p, label, f)
                continue
            if pending:
                rp, rl, rf = pending
                name, procs = rl.split(" right, ")
                print(f"| {name} | {procs.split()[0]} | {rp:,} | {rf['tx']} |"
                      f" {float(rf['tps']):.0f} | {float(rf['p50_us']):.0f} |"
                      f" {float(rf['p99_us']):.0f} | {rf['success']} of {rf['tx']} |"
                      f" {f['success']} of {f['tx']} |")
                pending = None

    print("\n### Other measurements\n")
    for p, label, f, rest in rows:
        if "callgrind" in label:
            print(f"- callgrind, {label.split()[1]} ({p:,} users): {int(f['ir_per_tx']):,}"
                  f" instructions per transaction in the client process ({results_of(f)})")
        elif label.startswith("daemon-rss"):
            print(f"- fotoauthd at {p:,} users: {rest.split(' ', 1)[1]}")
        elif label.startswith("sqlite-commit"):
            print(f"- SQLite autocommit UPDATE in WAL mode, synchronous={f['synchronous']}:"
                  f" {f['us_per_commit']} µs")
        elif "kill" in label:
            print(f"- {label}: {results_of(f)} of {f['tx']}")


main()
