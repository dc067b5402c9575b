"""Load benchmark of the simulator: concurrent SSE connections and events per second.

Starts `streamer simulate` (one process) with the `load` scenario, opens --connections SSE
streams over its sessions from --workers client processes, and measures over --duration seconds:
events persisted per second (the simulator's own counter), frames delivered per second (what the
clients received), and the simulator's CPU share. Prints one JSON object.

    .venv/bin/python bench/simulator_load.py --sessions 2500 --connections 10000 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

HEADERS = {"x-api-key": "bench", "anthropic-beta": "managed-agents-2026-04-01"}


def get(url: str) -> Any:
    request = urllib.request.Request(url, headers=HEADERS)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def session_ids(base_url: str) -> list[str]:
    ids: list[str] = []
    page = None
    while True:
        query = "limit=1000" + (f"&page={page}" if page else "")
        body = get(f"{base_url}/v1/sessions?{query}")
        ids += [s["id"] for s in body["data"]]
        page = body.get("next_page")
        if not page:
            return ids


async def client(base_url: str, targets: list[str], ready: Any, results: Any, go: Any) -> None:
    import aiohttp

    counts = {"frames": 0, "bytes": 0}

    async def follow(http: aiohttp.ClientSession, session_id: str, opened: asyncio.Event) -> None:
        async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
            opened.set()
            async for chunk in response.content.iter_any():
                counts["frames"] += chunk.count(b"\n\n")
                counts["bytes"] += len(chunk)

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(
        base_url, headers=HEADERS, connector=connector, timeout=timeout
    ) as http:
        events = [asyncio.Event() for _ in targets]
        tasks = []
        for index, (session_id, opened) in enumerate(zip(targets, events, strict=True)):
            tasks.append(asyncio.create_task(follow(http, session_id, opened)))
            if index % 200 == 199:
                await asyncio.sleep(0.05)  # pace the connects under the listen backlog
        await asyncio.gather(*(e.wait() for e in events))
        ready.put(len(targets))
        while go.value == 0:  # noqa: ASYNC110 - a cross-process flag can only be polled
            await asyncio.sleep(0.05)
        start = dict(counts)
        while go.value == 1:  # noqa: ASYNC110 - a cross-process flag can only be polled
            await asyncio.sleep(0.05)
        end = dict(counts)
        results.put(
            {"frames": end["frames"] - start["frames"], "bytes": end["bytes"] - start["bytes"]}
        )
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def worker(base_url: str, targets: list[str], ready: Any, results: Any, go: Any) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(client(base_url, targets, ready, results, go))
    else:
        uvloop.run(client(base_url, targets, ready, results, go))


def cpu_secs(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:  # noqa: PTH123 - /proc is not a project path
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2500)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--speed", type=float, default=2000.0)
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args()

    command = [sys.executable, "-m", "streamer", "simulate", "--port", "0", "--scenario", "load"]
    command += ["--sessions", str(args.sessions), "--speed", str(args.speed), "--turns", "1000000"]
    command += ["--rate", str(args.rate), "--log-level", "warning"]
    sim = subprocess.Popen(command, stdout=subprocess.PIPE)
    try:
        assert sim.stdout is not None
        base_url = sim.stdout.readline().decode().strip()
        ids = session_ids(base_url)
        targets = [ids[i % len(ids)] for i in range(args.connections)]
        ready: Any = mp.Queue()
        results: Any = mp.Queue()
        go: Any = mp.Value("i", 0)
        shards = [targets[i :: args.workers] for i in range(args.workers)]
        procs = [
            mp.Process(target=worker, args=(base_url, shard, ready, results, go))
            for shard in shards
        ]
        for proc in procs:
            proc.start()
        connected = sum(ready.get(timeout=300) for _ in procs)
        before, cpu_before, t0 = get(f"{base_url}/_sim/stats"), cpu_secs(sim.pid), time.monotonic()
        go.value = 1
        time.sleep(args.duration)
        after, cpu_after, t1 = get(f"{base_url}/_sim/stats"), cpu_secs(sim.pid), time.monotonic()
        go.value = 2
        delivered = [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        elapsed = t1 - t0
        report = {
            "sessions": args.sessions,
            "connections_open": after["connections"],
            "connections_requested": connected,
            "elapsed_secs": round(elapsed, 2),
            "events_persisted_per_sec": round(
                (after["events_persisted"] - before["events_persisted"]) / elapsed
            ),
            "frames_delivered_per_sec": round(sum(d["frames"] for d in delivered) / elapsed),
            "mbytes_delivered_per_sec": round(
                sum(d["bytes"] for d in delivered) / elapsed / 1e6, 1
            ),
            "simulator_cpu_share": round((cpu_after - cpu_before) / elapsed, 2),
        }
        print(json.dumps(report))
    finally:
        sim.terminate()
        try:
            sim.wait(timeout=120)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
