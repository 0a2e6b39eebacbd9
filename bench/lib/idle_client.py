#!/usr/bin/env python3
"""bench/lib/idle_client.py PORT COUNT — opens COUNT keep-alive connections to
127.0.0.1:PORT, sends one GET on each and reads the whole response, then keeps them all
open and idle. Prints "held N failed M" once every connection has been tried, then waits
until SIGTERM/SIGINT arrives, stdin closes (when it is a pipe or a terminal: /dev/null
would end it at once, before anything was measured) or 600 s pass, and closes everything.

At most 200 connections are being opened at any moment, so the listen backlog never
overflows; a connection that fails is retried up to 3 times."""
import asyncio
import os
import signal
import sys

PORT = int(sys.argv[1])
COUNT = int(sys.argv[2])
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: switchyard-bench-idle\r\n\r\n"


async def one(sem, held):
    for _ in range(3):
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", PORT), 10)
                writer.write(REQUEST)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                status = head.split(b" ", 2)[1]
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await asyncio.wait_for(reader.readexactly(length), 10)
                if status != b"200":
                    writer.close()
                    return False
                held.append(writer)
                return True
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                await asyncio.sleep(0.05)
    return False


async def main():
    sem = asyncio.Semaphore(200)
    held = []
    results = await asyncio.gather(*(one(sem, held) for _ in range(COUNT)))
    failed = results.count(False)
    print(f"held {len(held)} failed {failed}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    if os.readlink("/proc/self/fd/0") != "/dev/null":
        loop.add_reader(sys.stdin.fileno(), lambda: os.read(sys.stdin.fileno(), 1) or stop.set())
    try:
        await asyncio.wait_for(stop.wait(), 600)
    except asyncio.TimeoutError:
        pass
    for w in held:
        w.transport.abort()


asyncio.run(main())
