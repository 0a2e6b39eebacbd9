#!/usr/bin/env python3
"""atomics.py OUTFILE... — atomic read-modify-write instructions each callgrind run executed.

bench/callgrind runs each proxy with --dump-instr=yes, so its output file holds, for every
instruction executed, its address in its object file and how often it ran (its Ir). This
disassembles each object the run touched (objdump -d) and adds up the executions of the
instructions that are atomic on x86-64: those with a `lock` prefix and `xchg` with a memory
operand (implicitly locked). Prints one number per file, the sum over its whole run.

Why not count calls to swift_retain and swift_release: a release of nil (an optional property
assigned while it held nothing) is a call that returns after its null check, with no atomic
instruction at all. Counting calls counted those; this counts what the CPU does.
"""
import re
import subprocess
import sys

NAMED = re.compile(r"^(ob|fn|fl|fi|fe|cob|cfi|cfl|cfn)=\((\d+)\)(?: (.*))?$")


_disassembled = {}


def atomic_addresses(path):
    """Addresses of the atomic instructions in the object file at `path` (empty if unreadable)."""
    if path not in _disassembled:
        _disassembled[path] = _scan(path)
    return _disassembled[path]


def _scan(path):
    try:
        text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True,
                              text=True, check=False).stdout
    except OSError:
        return set()
    found = set()
    for line in text.splitlines():
        # "  4706e8:\tlock cmpxchg %rdx,(%rdi)"
        colon = line.find(":\t")
        if colon < 0:
            continue
        insn = line[colon + 2:].strip()
        if insn.startswith("lock ") or (insn.startswith("xchg") and "(" in insn):
            try:
                found.add(int(line[:colon].strip(), 16))
            except ValueError:
                pass
    return found


def count(outfile):
    objects = {}        # id -> path
    current = None      # path of the current object
    executed = {}       # path -> {address: executions}
    address = 0
    skip_next = False   # the cost line after calls= is a call's inclusive cost, not executions
    with open(outfile, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line:
                continue
            m = NAMED.match(line)
            if m:
                kind, ident, name = m.groups()
                if kind == "ob":
                    if name is not None:
                        objects[ident] = name
                    current = objects.get(ident)
                elif kind == "cob" and name is not None:
                    objects[ident] = name
                continue
            if line.startswith("ob="):
                current = line[3:]
                continue
            if line.startswith("calls="):
                skip_next = True
                continue
            first = line[0]
            if not (first == "+" or first == "-" or first == "*" or line.startswith("0x")):
                continue
            parts = line.split()
            token = parts[0]
            if token.startswith("0x"):
                address = int(token, 16)
            elif token[0] == "+":
                address += int(token[1:], 16) if token[1:2] == "0x" else int(token[1:])
            elif token[0] == "-":
                address -= int(token[1:], 16) if token[1:2] == "0x" else int(token[1:])
            if skip_next:
                skip_next = False
                continue
            if current is None or len(parts) < 3:
                continue
            # positions: instr line; then the events, Ir first.
            ir = int(parts[2])
            per = executed.setdefault(current, {})
            per[address] = per.get(address, 0) + ir
    total = 0
    for path, per in executed.items():
        atomics = atomic_addresses(path)
        if atomics:
            total += sum(n for a, n in per.items() if a in atomics)
    return total


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: atomics.py CALLGRIND_OUT_FILE...")
    for name in sys.argv[1:]:
        print(count(name))
