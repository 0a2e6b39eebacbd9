#!/usr/bin/env python3
"""The kernel's part of a proxied request, function by function, from perf samples.

    kernel_table.py INDEX TITLE

INDEX is a JSON-lines file the bench script writes as it goes, one line per measured run:
{"group": ..., "name": ..., "label": ..., "requests": N, "perf": PATH[, "against": NAME]}, where PATH is the
output of `perf report --no-children --sort sym -g none -q -n -F sample,sym` for the
proxy's processes over that run, recorded at 4000 Hz (a sample is 250 µs). For each group
(a load level: "wrk -c64", "h2load -m 100") it prints a table of µs per request, summed over
the group's runs and divided by their requests: every kernel function, user space (every
`[.]` sample, the proxy's code and its libraries, to set the kernel's part against), then socket polling
(`sock_poll`, `tcp_poll`, `ep_item_poll`) and the file table (`fdget`, `fput`) as rows of
their own, then the 25 functions where Switchyard spends most above HAProxy (or the run's `against` proxy)
and the 8 where it spends most below (perf's own cost included: read differences, not totals).
"""
import json
import sys
from collections import defaultdict

GROUPS_OF_FUNCTIONS = {
    "socket polling (`sock_poll` + `tcp_poll` + `ep_item_poll`)": ("sock_poll", "tcp_poll", "ep_item_poll"),
    "the file table (`fdget` + `fput`)": ("fdget", "fput"),
}


def read_samples(path):
    """The kernel's samples by function, and the count of user-space samples."""
    samples = defaultdict(int)
    user = 0
    for line in open(path):
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit():
            if parts[1] == "[k]":
                samples[parts[2].strip()] += int(parts[0])
            elif parts[1] == "[.]":
                user += int(parts[0])
    return samples, user


def main():
    index, title = sys.argv[1], sys.argv[2]
    runs = [json.loads(line) for line in open(index) if line.strip()]
    groups = []
    for run in runs:
        if run["group"] not in groups:
            groups.append(run["group"])
    print(f"\n## {title}\n")
    for group in groups:
        samples = defaultdict(lambda: defaultdict(int))
        user = defaultdict(int)
        requests = defaultdict(int)
        label = {}
        names = []
        # The proxy the differences are taken against: HAProxy unless the runs say otherwise
        # (handshakes are compared with nginx's, as their target is).
        against = next((r.get("against", "haproxy") for r in runs if r["group"] == group), "haproxy")
        for run in (r for r in runs if r["group"] == group):
            name = run["name"]
            if name not in names:
                names.append(name)
            label[name] = run["label"]
            requests[name] += run["requests"]
            kernel, user_samples = read_samples(run["perf"])
            user[name] += user_samples
            for symbol, count in kernel.items():
                samples[name][symbol] += count

        def per(name, symbol):
            return samples[name].get(symbol, 0) * 250 / requests[name] if requests[name] else 0.0

        def per_prefix(name, prefixes):
            # ep_item_poll is often a compiler clone (`ep_item_poll.isra.0`).
            return sum(per(name, s) for s in samples[name] if s.split(".")[0] in prefixes)

        print(f"### {group}\n")
        print("| function | " + " | ".join(label[n] for n in names) + " |")
        print("|---|" + "---:|" * len(names))
        print("| **all kernel functions** | " + " | ".join(
            f"**{sum(samples[n].values()) * 250 / requests[n]:.2f}**" if requests[n] else "–" for n in names) + " |")
        print("| user space, for comparison | " + " | ".join(
            f"{user[n] * 250 / requests[n]:.2f}" if requests[n] else "–" for n in names) + " |")
        for title_of_group, prefixes in GROUPS_OF_FUNCTIONS.items():
            print(f"| {title_of_group} | " + " | ".join(f"{per_prefix(n, prefixes):.3f}" for n in names) + " |")
        symbols = set(s for n in names for s in samples[n])
        if "switchyard" in names and against in names:
            order = sorted(symbols, key=lambda s: per(against, s) - per("switchyard", s))
            shown = order[:25] + [s for s in order[-8:] if s not in order[:25]]
            note = f"the 25 functions where Switchyard spends most above {label[against]}, then the 8 where it spends most below"
        else:
            shown = sorted(symbols, key=lambda s: -max(per(n, s) for n in names))[:30]
            note = "the 30 costliest functions"
        for symbol in shown:
            print(f"| `{symbol}` | " + " | ".join(f"{per(n, symbol):.3f}" for n in names) + " |")
        print(f"\nRows after the first four: {note}.\n")


if __name__ == "__main__":
    main()
