#!/usr/bin/env python3
"""bench/lib/report.py — turns the JSON lines the bench scripts write into numbers and
markdown tables. Subcommands (called by bench/compare, bench/idle, bench/flip):

  line JSON                         one progress line for a wrk run
  rate RESULTS CONNS                50 % of the slowest proxy's median req/s at CONNS
  h2load LOG NAME LABEL TICKS CLK RATE SECS OUT   one JSON line for a constant-rate run
  compare RESULTS RATE_RESULTS CMDLINE MACHINE NOTES   the markdown report
  metrics RESULTS SCRAPES / routes RESULTS HOSTS   notes lines: a row ÷ the plain one
  check RESULTS RATE_RESULTS        smoke check: every server answered 2xx, no errors
  idle RESULTS CMDLINE MACHINE      the markdown report of bench/idle
  flip RESULTS CMDLINE MACHINE NOTES   the markdown report of bench/flip
  h2 RESULTS HANDSHAKES CMDLINE MACHINE   the markdown report of bench/h2
"""
import json
import re
import statistics
import sys

PROXIES = ("switchyard", "switchyard_log", "switchyard_tcp", "haproxy", "nginx")


def load(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    rows.append(json.loads(line))
    except FileNotFoundError:
        pass
    return rows


def rps(w):
    return w.get("requests", 0) * 1e6 / max(w.get("duration_us", 1), 1)


def errors(w):
    return sum(w.get(k, 0) for k in ("err_connect", "err_read", "err_write", "err_timeout"))


def cpu_us_per_req(r):
    req = r["wrk"].get("requests", 0)
    if req <= 0:
        return None
    return r["cpu_ticks"] * 1e6 / r["clk_tck"] / req


def ms(us):
    return "—" if us is None else f"{us / 1000:.2f}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def paired_ratios(rows_a, rows_b, value):
    """value(a) ÷ value(b) for each round both rows ran, in round order. A round runs every
    proxy back to back, so a slow stretch of a shared machine lands on one round's rows
    together; the ratio within a round cancels it, a ratio of medians taken over different
    rounds does not."""
    by_round = {r["round"]: value(r) for r in rows_b}
    out = []
    for a in sorted(rows_a, key=lambda r: r["round"]):
        va, vb = value(a), by_round.get(a["round"])
        if va is not None and vb:
            out.append(va / vb)
    return out


def fmt_paired(ratios):
    """'median (r1, r2, …)' for a list of per-round ratios, or a dash."""
    if not ratios:
        return "—"
    return f"{statistics.median(ratios):.2f}× ({', '.join(f'{r:.2f}' for r in ratios)})"


def group(rows):
    """(conns, name) → list of rows, preserving first-seen order of names and conns."""
    groups, names, conns = {}, [], []
    for r in rows:
        groups.setdefault((r["conns"], r["name"]), []).append(r)
        if r["name"] not in names:
            names.append(r["name"])
        if r["conns"] not in conns:
            conns.append(r["conns"])
    return groups, names, conns


def summarize(rs):
    rates = [rps(r["wrk"]) for r in rs]
    return {
        "label": rs[0]["label"],
        "rps": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "p50": med([r["wrk"].get("p50_us") for r in rs]),
        "p99": med([r["wrk"].get("p99_us") for r in rs]),
        "cpu": med([cpu_us_per_req(r) for r in rs]),
        "errors": sum(errors(r["wrk"]) for r in rs),
        "non2xx": sum(r["wrk"].get("non2xx", 0) for r in rs),
        "requests": sum(r["wrk"].get("requests", 0) for r in rs),
        "rounds": len(rs),
    }


def report_head(title, cmdline, machine):
    """The top of every report: title, the command that made it, the machine."""
    return [f"# {title}", "", f"Command: `{cmdline}`", "", machine, ""]


def notes_section(notes_path):
    """The "Notes:" section: the lines the bench script wrote to NOTES_PATH (if any)."""
    out = ["Notes:"]
    try:
        out.extend(l.rstrip("\n") for l in open(notes_path) if l.strip())
    except FileNotFoundError:
        pass
    return out


def cmd_line(js):
    r = json.loads(js)
    w = r["wrk"]
    cpu = cpu_us_per_req(r)
    cpu_s = "—" if cpu is None else f"{cpu:.1f}"
    print(f"  round {r['round']} c={r['conns']:<4} {r['label']:<26} {rps(w):>10.0f} req/s  "
          f"p50 {ms(w.get('p50_us'))} ms  p99 {ms(w.get('p99_us'))} ms  cpu {cpu_s} µs/req  "
          f"errors {errors(w)}  non-2xx {w.get('non2xx', 0)}")


def cmd_rate(path, conns):
    groups, names, _ = group(load(path))
    maxima = [summarize(groups[(conns, n)])["rps"] for n in names
              if n in PROXIES and (conns, n) in groups]
    maxima = [m for m in maxima if m > 0]
    print(int(min(maxima) * 0.5) if maxima else 0)


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def cmd_h2load(logpath, name, label, ticks, clk, rate, secs, outpath):
    lat, ok, bad = [], 0, 0
    try:
        with open(logpath) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) < 3:
                    continue
                status, dur = int(parts[1]), int(parts[2])
                if 200 <= status < 300:
                    ok += 1
                    lat.append(dur)
                else:
                    bad += 1
    except FileNotFoundError:
        pass
    failed = 0
    try:
        text = open(outpath).read()
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
        if m:
            failed = int(m.group(5)) + int(m.group(6)) + int(m.group(7))
    except FileNotFoundError:
        pass
    lat.sort()
    total = ok + bad
    out = {
        "name": name, "label": label, "target_rps": int(rate), "secs": float(secs),
        "requests": total, "ok": ok, "non2xx": bad, "failed": failed,
        "achieved_rps": total / float(secs) if float(secs) > 0 else 0,
        "p50_us": percentile(lat, 50), "p99_us": percentile(lat, 99), "max_us": lat[-1] if lat else None,
        "cpu_us_per_req": (int(ticks) * 1e6 / int(clk) / total) if total else None,
    }
    print(json.dumps(out))
    return 0 if total > 0 else 1


def cmd_compare(results, rate_results, cmdline, machine, notes_path):
    rows = load(results)
    groups, names, conns_list = group(rows)
    out = report_head("Switchyard vs HAProxy vs nginx — HTTP/1.1, keep-alive, one core each", cmdline, machine)
    rounds = max((r["round"] for r in rows), default=0)
    out.append(f"Closed loop: wrk -t1, {rounds} interleaved round(s) per cell; req/s is the median "
               "(min–max) over rounds, p50/p99 and CPU are medians over rounds. CPU is the proxy's "
               "utime+stime from /proc over the run, divided by the requests wrk completed "
               "(for the ceiling row: the origin's own CPU).")
    out.append("")
    out.append("| conns | server | req/s median (min–max) | p50 ms | p99 ms | CPU µs/req | errors | req/s ÷ HAProxy | req/s ÷ nginx |")
    out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    summaries = {}
    for c in conns_list:
        for n in names:
            if (c, n) in groups:
                summaries[(c, n)] = summarize(groups[(c, n)])
        ha = summaries.get((c, "haproxy"))
        ng = summaries.get((c, "nginx"))
        for n in names:
            s = summaries.get((c, n))
            if not s:
                continue
            err = str(s["errors"] + s["non2xx"])
            if s["non2xx"]:
                err += f" ({s['non2xx']} non-2xx)"
            if n.startswith("switchyard"):
                r_ha = fmt_ratio(s["rps"], ha and ha["rps"])
                r_ng = fmt_ratio(s["rps"], ng and ng["rps"])
            else:
                r_ha = r_ng = ""
            cpu = "—" if s["cpu"] is None else f"{s['cpu']:.1f}"
            label = f"**{s['label']}**" if n == "switchyard" else s["label"]
            out.append(f"| {c} | {label} | {s['rps']:,.0f} ({s['min']:,.0f}–{s['max']:,.0f}) | "
                       f"{ms(s['p50'])} | {ms(s['p99'])} | {cpu} | {err} | {r_ha} | {r_ng} |")
    out.append("")
    out.append("Switchyard (access log off) against the others, read against the targets "
               "(req/s ≥ 1.2× HAProxy and nginx at 64 connections; CPU per request ≤ 0.8× HAProxy):")
    out.append("")
    out.append("| conns | req/s ÷ HAProxy | req/s ÷ nginx | CPU/req ÷ HAProxy | CPU/req ÷ nginx | HTTP ÷ TCP mode req/s |")
    out.append("|---:|---:|---:|---:|---:|---:|")
    for c in conns_list:
        sy = summaries.get((c, "switchyard"))
        if not sy:
            continue
        ha = summaries.get((c, "haproxy")) or {}
        ng = summaries.get((c, "nginx")) or {}
        tcp = summaries.get((c, "switchyard_tcp")) or {}
        out.append(f"| {c} | {fmt_ratio(sy['rps'], ha.get('rps'))} | {fmt_ratio(sy['rps'], ng.get('rps'))} | "
                   f"{fmt_ratio(sy['cpu'], ha.get('cpu'))} | {fmt_ratio(sy['cpu'], ng.get('cpu'))} | "
                   f"{fmt_ratio(sy['rps'], tcp.get('rps'))} |")
    if rounds > 1:
        out.append("")
        out.append("Paired by round — each ratio from the rows of one round (median, then every round); "
                   "this is the figure to read against a target on a shared machine:")
        out.append("")
        out.append("| conns | CPU/req ÷ HAProxy | req/s ÷ HAProxy | CPU/req ÷ TCP mode |")
        out.append("|---:|---|---|---|")
        for c in conns_list:
            sy = groups.get((c, "switchyard"))
            if not sy:
                continue
            per = lambda other, f: fmt_paired(paired_ratios(sy, groups.get((c, other), []), f))
            out.append(f"| {c} | {per('haproxy', cpu_us_per_req)} | {per('haproxy', lambda r: rps(r['wrk']))} | "
                       f"{per('switchyard_tcp', cpu_us_per_req)} |")
    rate_rows = load(rate_results)
    if rate_rows:
        out.append("")
        target = rate_rows[0]["target_rps"]
        out.append(f"Constant rate (open loop, `h2load --h1 --rps`): {target:,} req/s for every proxy, "
                   f"50 % of the slowest proxy's median maximum; latency measured by h2load from each "
                   f"request's scheduled start, CPU over the run ÷ requests.")
        out.append("")
        out.append("| server | achieved req/s | p50 ms | p99 ms | max ms | CPU µs/req | failed / non-2xx | CPU ÷ HAProxy | p99 ÷ HAProxy |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        ha = next((r for r in rate_rows if r["name"] == "haproxy"), {})
        for r in rate_rows:
            cpu = "—" if r["cpu_us_per_req"] is None else f"{r['cpu_us_per_req']:.1f}"
            if r["name"].startswith("switchyard"):
                c_ha = fmt_ratio(r["cpu_us_per_req"], ha.get("cpu_us_per_req"))
                p_ha = fmt_ratio(r["p99_us"], ha.get("p99_us"))
            else:
                c_ha = p_ha = ""
            label = f"**{r['label']}**" if r["name"] == "switchyard" else r["label"]
            out.append(f"| {label} | {r['achieved_rps']:,.0f} | {ms(r['p50_us'])} | {ms(r['p99_us'])} | "
                       f"{ms(r['max_us'])} | {cpu} | {r['failed']} / {r['non2xx']} | {c_ha} | {p_ha} |")
    out.append("")
    out.extend(notes_section(notes_path))
    out.append("- errors = wrk socket errors (connect, read, write, timeout) + non-2xx responses, summed over rounds")
    out.append("- on a 2-core machine shared with other work the numbers are noisy: compare ratios within one run, not across runs")
    print("\n".join(out))


def cmd_check(results, rate_results):
    ok = True
    for r in load(results):
        w = r["wrk"]
        if w.get("failed_run") or w.get("requests", 0) == 0:
            print(f"smoke: {r['label']}: no requests completed", file=sys.stderr)
            ok = False
        elif w.get("non2xx", 0) or errors(w):
            print(f"smoke: {r['label']}: {w.get('non2xx', 0)} non-2xx, {errors(w)} socket errors", file=sys.stderr)
            ok = False
    for r in load(rate_results):
        if r["ok"] == 0 or r["non2xx"] or r["failed"]:
            print(f"smoke: {r['label']} constant rate: {r['ok']} ok, {r['non2xx']} non-2xx, {r['failed']} failed", file=sys.stderr)
            ok = False
    print("smoke check: " + ("every server answered 200s" if ok else "FAILED"), file=sys.stderr)
    return 0 if ok else 1


def cmd_idle(results, cmdline, machine):
    rows = load(results)
    out = report_head("Idle keep-alive connections: memory per connection", cmdline, machine)
    out.append("Each client connection sent one request, read the 200, and stays open and idle. "
               "RSS is VmRSS of the proxy (master + workers) from /proc; per connection = "
               "(RSS with the connections − RSS before) ÷ connections. Target: ≤ 0.5 KiB per connection.")
    out.append("")
    out.append("| server | connections held | RSS before KiB | RSS with connections KiB | KiB per connection | ÷ HAProxy | ÷ nginx |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    per = {r["name"]: r["per_conn_kib"] for r in rows if r.get("held")}
    for r in rows:
        pc = r.get("per_conn_kib")
        pc_s = "—" if pc is None else f"{pc:.2f}"
        if r["name"] == "switchyard":
            a, b = fmt_ratio(pc, per.get("haproxy")), fmt_ratio(pc, per.get("nginx"))
            label = f"**{r['label']}**"
        else:
            a = b = ""
            label = r["label"]
        out.append(f"| {label} | {r.get('held', 0):,} of {r['wanted']:,} | {r['rss_before']:,} | "
                   f"{r['rss_after']:,} | {pc_s} | {a} | {b} |")
    out.append("")
    out.append("Notes:")
    out.append("- all servers: one worker/thread, same origin, logging off; RSS before is measured after one request went through")
    print("\n".join(out))


def cmd_flip(results, cmdline, machine, notes_path):
    rows = load(results)
    out = report_head("Flip under load", cmdline, machine)
    out.append("wrk -t1 drives steady load through the proxy; the steady phase has no changes, the "
               "flip phase flips and reverts every second. Failed = wrk socket errors (connect, read, "
               "write, timeout) + non-2xx responses. Target: 0 failed requests.")
    out.append("")
    out.append("| proxy | phase | changes made | req/s | p99 ms | requests | socket errors | non-2xx | failed | req/s ÷ steady |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    steady = {}
    for r in rows:
        w = r["wrk"]
        rate = rps(w)
        if r["phase"] == "steady":
            steady[r["name"]] = rate
        ratio = fmt_ratio(rate, steady.get(r["name"])) if r["phase"] != "steady" else ""
        failed = errors(w) + w.get("non2xx", 0)
        out.append(f"| {r['label']} | {r['phase']} | {r.get('changes', 0)} | {rate:,.0f} | {ms(w.get('p99_us'))} | "
                   f"{w.get('requests', 0):,} | {errors(w)} | {w.get('non2xx', 0)} | {failed} | {ratio} |")
    out.append("")
    out.extend(notes_section(notes_path))
    print("\n".join(out))


def h2_cpu_us_per_req(r):
    """bench/h2's proxy CPU µs per request for one row (one proxy, stream count and round)."""
    return r["cpu_ticks"] * 1e6 / r["clk_tck"] / max(r["rps"] * r["seconds"], 1)


def h2_user_us_per_req(r):
    """The user-space part of `h2_cpu_us_per_req` (rows from before the split: None)."""
    if "user_ticks" not in r:
        return None
    return r["user_ticks"] * 1e6 / r["clk_tck"] / max(r["rps"] * r["seconds"], 1)


def h2_sys_us_per_req(r):
    """The kernel's part of `h2_cpu_us_per_req`."""
    user = h2_user_us_per_req(r)
    return None if user is None else h2_cpu_us_per_req(r) - user


def proxy_labels(rows):
    """(name, label) of each proxy in the rows, in the bench's order."""
    seen = []
    for name in ("switchyard", "switchyard_old", "haproxy", "nginx"):
        label = next((r["label"] for r in rows if r["name"] == name), None)
        if label:
            seen.append((name, label))
    return seen


def cmd_h2(results, handshakes, cmdline, machine):
    """bench/h2: medians over rounds of req/s and proxy CPU µs per request, per stream
    count, with ratios to HAProxy and nginx, and the same ratios paired by round; then TLS
    handshakes per second and CPU per handshake (medians over rounds, paired ratios)."""
    rows = load(results)
    h1 = " --h1" in cmdline
    protocol, alpn = ("HTTP/1.1", "http/1.1") if h1 else ("HTTP/2", "h2")
    print("\n".join(report_head(f"bench/h2 — HTTPS + {protocol} through Switchyard, HAProxy and nginx", cmdline, machine)))
    warmup = re.search(r"--warmup (\d+)", cmdline)
    warm = (f" Each measured run (h2load and s_time alike) comes right after {warmup.group(1)} s of the "
            "same load against the same proxy, not counted: the figures are warm, steady-state ones."
            if warmup and warmup.group(1) != "0" else " No warm-up: each run starts from the proxy's idle state.")
    print(f"Same plain HTTP/1.1 nginx origin behind every proxy; h2load over TLS (ALPN {alpn}"
          + (", `--h1`: streams/conn is the requests pipelined on a keep-alive connection" if h1 else "")
          + ") on the origin's core, proxies on the other. Medians over rounds." + warm + "\n")
    print("| streams/conn | proxy | req/s | ÷ HAProxy | ÷ nginx | CPU µs/req | ÷ HAProxy | ÷ nginx | 2xx | failed+errored |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    streams = []
    for r in rows:
        if r["streams"] not in streams:
            streams.append(r["streams"])
    for m in streams:
        figures = {}
        for name in ("switchyard", "switchyard_old", "haproxy", "nginx"):
            rs = [r for r in rows if r["streams"] == m and r["name"] == name]
            if not rs:
                continue
            cpu = [h2_cpu_us_per_req(r) for r in rs]
            figures[name] = (rs[0]["label"], med([r["rps"] for r in rs]), med(cpu),
                             sum(r["ok"] for r in rs), ",".join(sorted({r["failed"] for r in rs})))
        for name, (label, r_s, cpu, ok, failed) in figures.items():
            h, n = figures.get("haproxy"), figures.get("nginx")
            print(f"| {m} | {label} | {r_s:,.0f} | {fmt_ratio(r_s, h and h[1])} | {fmt_ratio(r_s, n and n[1])} | "
                  f"{cpu:.1f} | {fmt_ratio(cpu, h and h[2])} | {fmt_ratio(cpu, n and n[2])} | {ok} | {failed} |")
    rounds = max((r["round"] for r in rows), default=0)
    if rounds > 1:
        print("\nPaired by round — Switchyard's CPU µs per request ÷ the other proxy's in the same "
              "round (median, then every round); the figure to read against a target on a shared machine:\n")
        # --old: the older binary's rows too, and the new one ÷ the old one, round by round.
        old = any(r["name"] == "switchyard_old" for r in rows)
        print("| streams/conn | CPU ÷ HAProxy | CPU ÷ nginx |" + (" CPU ÷ old binary | old binary's CPU ÷ HAProxy |" if old else ""))
        print("|---:|---|---|" + ("---|---|" if old else ""))
        for m in streams:
            of = lambda name: [r for r in rows if r["streams"] == m and r["name"] == name]
            per = lambda other, mine="switchyard": fmt_paired(paired_ratios(of(mine), of(other), h2_cpu_us_per_req))
            extra = f" {per('switchyard_old')} | {per('haproxy', 'switchyard_old')} |" if old else ""
            print(f"| {m} | {per('haproxy')} | {per('nginx')} |" + extra)
    # The CPU split into user space (the proxy's code, OpenSSL, nghttp2) and the kernel
    # (sockets, TCP over loopback, epoll): most of a request is the kernel's and alike for
    # every proxy, so the user column is where the proxies' own work differs.
    if all(h2_user_us_per_req(r) is not None for r in rows):
        print("\nThe same CPU split: user space (the proxy, OpenSSL, nghttp2) and the kernel, µs per "
              "request, medians, with Switchyard ÷ the other proxy paired by round:\n")
        print("| streams/conn | proxy | user µs/req | system µs/req | user ÷ HAProxy | system ÷ HAProxy | user ÷ nginx | system ÷ nginx |")
        print("|---:|---|---:|---:|---|---|---|---|")
        for m in streams:
            of = lambda name: [r for r in rows if r["streams"] == m and r["name"] == name]
            for name in ("switchyard", "switchyard_old", "haproxy", "nginx"):
                rs = of(name)
                if not rs:
                    continue
                cells = ["", "", "", ""]
                if name == "switchyard":
                    cells = [fmt_paired(paired_ratios(rs, of(other), part))
                             for other in ("haproxy", "nginx") for part in (h2_user_us_per_req, h2_sys_us_per_req)]
                print(f"| {m} | {rs[0]['label']} | {med([h2_user_us_per_req(r) for r in rs]):.1f} | "
                      f"{med([h2_sys_us_per_req(r) for r in rs]):.1f} | " + " | ".join(cells) + " |")
    # Minor page faults: memory the proxy touched for the first time, or again after giving
    # it back to the kernel. A round that starts from a worker which released its buffers
    # pays them (the kernel zeroes each page); a warm round pays almost none.
    if all("minflt" in r for r in rows):
        proxies = proxy_labels(rows)
        print("\nMinor page faults per 1,000 requests, median over rounds (every round):\n")
        print("| streams/conn | " + " | ".join(label for _, label in proxies) + " |")
        print("|---:|" + "---|" * len(proxies))
        for m in streams:
            cells = []
            for name, _ in proxies:
                rs = [r for r in rows if r["streams"] == m and r["name"] == name]
                per = [r["minflt"] * 1000 / max(r["ok"], 1) for r in rs]
                cells.append(f"{med(per):.1f} (" + ", ".join(f"{x:.1f}" for x in per) + ")" if per else "–")
            print(f"| {m} | " + " | ".join(cells) + " |")
    hs = load(handshakes)
    titles = {"new": "openssl s_time -new: full handshake, one client",
              "reuse": "openssl s_time -reuse -www /: session resumed, one GET / each, one client"}
    for mode in ("new", "reuse"):
        rows = [r for r in hs if r.get("mode", "new") == mode]
        if not rows:
            continue
        print(f"\n## TLS handshakes ({titles[mode]})\n")
        print("| proxy | handshakes/s | ÷ HAProxy | ÷ nginx | proxy CPU µs/handshake | ÷ HAProxy | ÷ nginx |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        hs_rate = lambda r: r["handshakes"] / max(float(r["real"]), 1e-9)
        hs_cpu = lambda r: r["cpu_ticks"] * 1e6 / r["clk_tck"] / max(r["handshakes"], 1)
        names, labels = [], {}
        for r in rows:
            if r["name"] not in names:
                names.append(r["name"])
                labels[r["name"]] = r["label"]
        of = {n: [r for r in rows if r["name"] == n] for n in names}
        rate = {n: med([hs_rate(r) for r in of[n]]) for n in names}
        cpu = {n: med([hs_cpu(r) for r in of[n]]) for n in names}
        for n in names:
            print(f"| {labels[n]} | {rate[n]:,.0f} | {fmt_ratio(rate[n], rate.get('haproxy'))} | "
                  f"{fmt_ratio(rate[n], rate.get('nginx'))} | {cpu[n]:.0f} | "
                  f"{fmt_ratio(cpu[n], cpu.get('haproxy'))} | {fmt_ratio(cpu[n], cpu.get('nginx'))} |")
        if max(r["round"] for r in rows) > 1 and "switchyard" in of:
            old = (f", ÷ the old binary's {fmt_paired(paired_ratios(of['switchyard'], of['switchyard_old'], hs_cpu))}"
                   if "switchyard_old" in of else "")
            print(f"\nPaired by round, Switchyard's CPU per handshake ÷ HAProxy's "
                  f"{fmt_paired(paired_ratios(of['switchyard'], of.get('haproxy', []), hs_cpu))}, "
                  f"÷ nginx's {fmt_paired(paired_ratios(of['switchyard'], of.get('nginx', []), hs_cpu))}{old}.")
    print("\nReading it: req/s is capped by h2load and the origin sharing one core; CPU µs per "
          "request of the proxy process is the comparable figure. Ratios below 1.00× in the CPU "
          "columns mean Switchyard spends less.")


def against_plain(path, name, what, plain):
    """One notes line per connection count: the CPU and req/s of row `name` ÷ the plain
    Switchyard row measured beside it in the same rounds."""
    groups, _, conns = group(load(path))
    for c in conns:
        base, row = groups.get((c, "switchyard")), groups.get((c, name))
        if not base or not row:
            continue
        a, b = summarize(base), summarize(row)
        if a["cpu"] and b["cpu"]:
            print(f"- {what}, c={c}: CPU {b['cpu']:.1f} vs {a['cpu']:.1f} µs/req {plain} "
                  f"({(b['cpu'] / a['cpu'] - 1) * 100:+.1f} %), {b['rps']:,.0f} vs {a['rps']:,.0f} req/s")


def cmd_metrics(path, scrapes):
    """bench/compare --metrics: CPU per request with the metrics listener on and scraped
    every second ÷ off, per connection count (the issue's bar: within 2 %)."""
    against_plain(path, "switchyard_metrics",
                  f"metrics listener on, /metrics and /status.json scraped every second ({scrapes} scrapes)", "off")


def cmd_routes(path, hosts):
    """bench/compare --routes N: CPU per request with N hosts × 100 path prefixes (requests
    naming the last host) ÷ the one-route file, per connection count (the bar: within 3 %)."""
    against_plain(path, "switchyard_routes",
                  f"{int(hosts) * 100:,} routes ({hosts} hosts × 100 path prefixes, requests for the last host)",
                  "with one route")


def cmd_old(path, old_binary):
    """bench/compare --old: this build's CPU per request and req/s ÷ the old build's, paired
    by round (the two rows run back to back in every round), per connection count."""
    groups, _, conns = group(load(path))
    for c in conns:
        new, old = groups.get((c, "switchyard")), groups.get((c, "switchyard_old"))
        if not new or not old:
            continue
        cpu = fmt_paired(paired_ratios(new, old, cpu_us_per_req))
        rate = fmt_paired(paired_ratios(new, old, lambda r: rps(r["wrk"])))
        print(f"- this build ÷ the old binary ({old_binary}), c={c}, paired by round: CPU/req {cpu}, req/s {rate}")


def main(argv):
    cmd = argv[1]
    if cmd == "line":
        cmd_line(argv[2])
    elif cmd == "rate":
        cmd_rate(argv[2], int(argv[3]))
    elif cmd == "h2load":
        return cmd_h2load(*argv[2:10])
    elif cmd == "compare":
        cmd_compare(*argv[2:7])
    elif cmd == "metrics":
        cmd_metrics(argv[2], argv[3])
    elif cmd == "routes":
        cmd_routes(argv[2], argv[3])
    elif cmd == "old":
        cmd_old(argv[2], argv[3])
    elif cmd == "check":
        return cmd_check(argv[2], argv[3])
    elif cmd == "idle":
        cmd_idle(*argv[2:5])
    elif cmd == "flip":
        cmd_flip(*argv[2:6])
    elif cmd == "h2":
        cmd_h2(*argv[2:6])
    else:
        print(f"report.py: unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
