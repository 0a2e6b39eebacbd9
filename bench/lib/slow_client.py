#!/usr/bin/env python3
"""bench/lib/slow_client.py PORT COUNT — slowloris: opens COUNT connections to
127.0.0.1:PORT, sends the start of a request head, then one more header line a second,
never finishing. Prints "opened N" once all are open, and at the end (when every
connection was closed by the server, or after LIMIT seconds) one JSON line:
{"opened": N, "closed_by_server": K, "max_lifetime_s": X, "p99_lifetime_s": Y}."""
import asyncio
import json
import sys
import time

PORT, COUNT = int(sys.argv[1]), int(sys.argv[2])
LIMIT = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
lifetimes = []
opened = 0


async def trickle(sem):
    global opened
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", PORT), 10)
        except Exception:
            return
    opened += 1
    start = time.monotonic()
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    n = 0
    while time.monotonic() - start < LIMIT:
        try:
            data = await asyncio.wait_for(reader.read(4096), 1.0)
            if data == b"" or data:      # an answer (408) or end of stream: closed on us
                lifetimes.append(time.monotonic() - start)
                writer.close()
                return
        except asyncio.TimeoutError:
            pass
        except Exception:
            lifetimes.append(time.monotonic() - start)
            return
        n += 1
        try:
            writer.write(b"X-Slow-%d: a\r\n" % n)
        except Exception:
            lifetimes.append(time.monotonic() - start)
            return
    writer.close()


async def main():
    sem = asyncio.Semaphore(200)
    tasks = [asyncio.create_task(trickle(sem)) for _ in range(COUNT)]
    while opened + 0 < COUNT and not all(t.done() for t in tasks):
        await asyncio.sleep(0.1)
        if sum(1 for t in tasks if t.done()) + opened >= COUNT:
            break
    print(f"opened {opened}", flush=True)
    await asyncio.gather(*tasks)
    lifetimes.sort()
    p99 = lifetimes[int(len(lifetimes) * 0.99) - 1] if lifetimes else None
    print(json.dumps({"opened": opened, "closed_by_server": len(lifetimes),
                      "max_lifetime_s": round(max(lifetimes), 2) if lifetimes else None,
                      "p99_lifetime_s": round(p99, 2) if p99 else None}), flush=True)


asyncio.run(main())
