#!/usr/bin/env python3
"""Load on `jingtu serve` while a scan writes the store (issue 16).

N concurrent clients (default 50) page through `flags` (limit 10, following `next` links) and pull
`/changes`, while `jingtu scan` takes the store from half-way to the end of the demo's months. Prints
requests per second, p50/p99 latency, errors, and the scan's time beside the loaded server against the
same scan with the server idle. Standard library only.

Two ways of sharing the machine are measured:
- `shared`: server, clients and scan at the same priority, all on this machine's cores;
- `deployed`: the server at the priority the systemd unit gives it (`Nice=19`, deploy/jingtu-serve.service)
  and the clients at the lowest (they stand in for registry services on other machines, whose CPU a
  deployment does not share); the scan at normal priority, as the monthly job runs.
Each scan is run `--repeat` times (median).

    python3 benches/serve_load.py [--binary target/release/jingtu] [--clients 50] [--work DIR] [--repeat 3]
"""

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request


def run(binary, *args):
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    if out.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)}: exit {out.returncode}\n{out.stderr}")
    return out.stdout


def serve(binary, store, nice=0):
    proc = subprocess.Popen(["nice", "-n", str(nice), binary, "serve", "--store", store, "--listen", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if " at http" in line:
            base = line.split(" at ", 1)[1].split()[0]
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, base
    sys.exit("jingtu serve did not start")


def scan(binary, data, store, as_of=None):
    args = ["scan", "--plots", f"{data}/plots.gpkg", "--scenes", f"{data}/catalog.json", "--store", store, "-q",
            "--no-report"]
    if as_of:
        args += ["--as-of", as_of]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    run(binary, *args)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # What the scan itself used: CPU seconds, and how often it gave the CPU up by itself (waiting on I/O
    # or a lock) against how often it was preempted (another process wanted the core). A scan slowed by
    # the server's locks waits voluntarily; one slowed by the clients' CPU is preempted.
    return wall, {
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "voluntary_switches": after.ru_nvcsw - before.ru_nvcsw,
        "preemptions": after.ru_nivcsw - before.ru_nivcsw,
    }


def client(base, token, stop, latencies, errors):
    def get(url):
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        t = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                body = r.read()
            latencies.append(time.monotonic() - t)
            return body
        except (urllib.error.URLError, OSError) as e:
            errors.append(str(e))
            return None

    while not stop.is_set():
        url = f"{base}/collections/flags/items?limit=10"
        while url and not stop.is_set():
            body = get(url)
            if body is None:
                break
            links = json.loads(body)["links"]
            url = next((l["href"] for l in links if l["rel"] == "next"), None)
        get(f"{base}/changes?since=0")


def clients(base, token, count, nice, stop, results):
    """The client threads, in a process of their own at `nice` (the scan is not a child of it)."""
    os.nice(nice)
    halt, latencies, errors = threading.Event(), [], []
    threads = [threading.Thread(target=client, args=(base, token, halt, latencies, errors)) for _ in range(count)]
    started = time.monotonic()
    for t in threads:
        t.start()
    stop.wait()
    halt.set()
    for t in threads:
        t.join()
    results.put((latencies, errors, time.monotonic() - started))


def loaded_scans(a, data, base_store, server_nice, client_nice):
    """Scans beside a server under load, `a.repeat` times: (scan times, scan use, latencies, errors, elapsed)."""
    times, uses, latencies, errors, elapsed = [], [], [], [], 0.0
    for k in range(a.repeat):
        loaded = f"{a.work}/loaded-{server_nice}-{k}.gpkg"
        shutil.copy(base_store, loaded)
        token = run(a.binary, "token", "create", "--store", loaded, "--scope", "read", "--name", "load").strip()
        proc, base = serve(a.binary, loaded, server_nice)
        stop, results = multiprocessing.Event(), multiprocessing.Queue()
        load = multiprocessing.Process(target=clients, args=(base, token, a.clients, client_nice, stop, results))
        load.start()
        time.sleep(2)
        t, use = scan(a.binary, data, loaded)
        stop.set()
        lat, err, took = results.get()
        load.join()
        proc.terminate()
        proc.wait()
        times.append(t)
        uses.append(use)
        latencies += lat
        errors += err
        elapsed += took
    return times, uses, latencies, errors, elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/jingtu")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--work", default="serve-load")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    run(a.binary, "demo", "--out", f"{a.work}/demo", "-q")
    data = f"{a.work}/demo/data"
    dates = sorted(json.load(open(f"{data}/truth.json"))["acquisitions"], key=lambda x: x[1])
    half = dates[len(dates) - 7][1]
    base_store = f"{a.work}/half.gpkg"
    scan(a.binary, data, base_store, half)

    idle_times, idle_uses = [], []
    for k in range(a.repeat):
        idle = f"{a.work}/idle-{k}.gpkg"
        shutil.copy(base_store, idle)
        proc, _ = serve(a.binary, idle)
        t, use = scan(a.binary, data, idle)
        proc.terminate()
        proc.wait()
        idle_times.append(t)
        idle_uses.append(use)
    idle_time = statistics.median(idle_times)

    report = {"clients": a.clients, "repeat": a.repeat, "load_before": os.getloadavg()[0],
              "scan_idle_server_s": [round(t, 2) for t in idle_times], "scan_idle_server_use": idle_uses}
    failed = False
    for mode, server_nice, client_nice in [("shared", 0, 0), ("deployed", 19, 19)]:
        times, uses, latencies, errors, elapsed = loaded_scans(a, data, base_store, server_nice, client_nice)
        lat = sorted(latencies)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
        report[mode] = {
            "server_nice": server_nice,
            "client_nice": client_nice,
            "requests": len(lat),
            "requests_per_s": round(len(lat) / max(elapsed, 1e-9), 1),
            "p50_ms": round(p(0.50), 1),
            "p99_ms": round(p(0.99), 1),
            "errors": len(errors),
            "first_errors": errors[:3],
            "scan_loaded_server_s": [round(t, 2) for t in times],
            "scan_slowdown_median": round(statistics.median(times) / idle_time, 3),
            "scan_loaded_server_use": uses,
        }
        failed |= bool(errors)
    print(json.dumps(report, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
