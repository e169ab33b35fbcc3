#!/usr/bin/env python
"""Serving under load, and top-k for every user at ML-20M's shape.

1. Top-10 requests: ``Predictor.recommend`` called in-process, then
   ``POST /recommend`` through ``scripts/serve.py`` with 1 and 2 workers at
   1, 4 and 16 concurrent clients (an asyncio ``httpx`` client; every
   request to 127.0.0.1, random users): requests per second, p50 and p99
   latency, failures.
   Besides wall-clock figures, the CPU time each side spent per request
   (server processes from /proc, the client's own): on a shared machine
   those stay meaningful when the throughput does not.
2. A soak: 16 clients for ``--soak`` seconds against 2 workers; any failed
   request is reported.
3. ``recommend.py --all-users``'s code path (top-10 for every user into a
   CSV) at ML-20M's shape, 138,493 users x 26,744 items, on an untrained
   MF or GMF with random weights and 20M random training interactions
   (nothing is read from disk): time and peak RSS, in a fresh process.

Train the MF run it serves first:

    python scripts/train_mf.py --data-dir $D2L_RECSYS_DATA \\
        --devices cpu --out runs/mfrun --quiet
    python bench/bench_serve.py --model-dir runs/mfrun
"""
import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as onp

import harness
from harness import ROOT

HOST = '127.0.0.1'          # the only address this benchmark talks to


def summary(latencies, seconds, failures):
    """req/s, p50 and p99 (ms) of one measurement."""
    lat = onp.asarray(latencies) * 1000
    return dict(rps=len(lat) / seconds, p50=onp.percentile(lat, 50),
                p99=onp.percentile(lat, 99), n=len(lat), failures=failures)


def row(label, s):
    return (f"| {label:<29} | {s['rps']:6.0f} | {s['p50']:6.2f} | "
            f"{s['p99']:7.2f} | {s['n']:6d} | {s['failures']:4d} | "
            f"{s.get('server_cpu', float('nan')):6.2f} | "
            f"{s['client_cpu']:6.2f} |")


HEADER = ('| top-10 requests               |  req/s | p50 ms | p99 ms  |'
          '  reqs  | fail | server CPU ms/req | client CPU ms/req |\n'
          '|---|---:|---:|---:|---:|---:|---:|---:|')


def cpu_seconds(pids):
    """User + system CPU time of processes so far, from /proc."""
    total = 0
    for pid in pids:
        try:
            with open(f'/proc/{pid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf('SC_CLK_TCK')


# --------------------------------------------------------------------------
# In-process and HTTP load
# --------------------------------------------------------------------------
def in_process(model_dir, seconds):
    from d2l_recsys.serving import load_predictor
    pred = load_predictor(model_dir)
    users = pred.user_ids[pred.known_users]
    rng = onp.random.default_rng(0)
    latencies, end = [], time.perf_counter() + seconds
    start = time.perf_counter()
    cpu = time.process_time()
    while time.perf_counter() < end:
        t = time.perf_counter()
        pred.recommend(int(rng.choice(users)), 10)
        latencies.append(time.perf_counter() - t)
    res = summary(latencies, time.perf_counter() - start, 0)
    res['client_cpu'] = (time.process_time() - cpu) * 1000 / res['n']
    return res, users


def measure(server, users, clients, seconds):
    """One HTTP measurement with the CPU time spent on each side."""
    pids = server.processes()
    server_cpu, client_cpu = cpu_seconds(pids), time.process_time()
    res = asyncio.run(load(server.url, users, clients, seconds))
    res['server_cpu'] = (cpu_seconds(pids) - server_cpu) * 1000 / res['n']
    res['client_cpu'] = (time.process_time() - client_cpu) * 1000 / res['n']
    return res


async def load(url, users, clients, seconds):
    """``clients`` coroutines posting top-10 requests for ``seconds``."""
    import httpx
    rng = onp.random.default_rng(clients)
    latencies, failures = [], [0]
    limits = httpx.Limits(max_connections=clients,
                          max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30,
                                 trust_env=False) as client:   # no proxy
        end = time.perf_counter() + seconds

        async def one_client():
            while time.perf_counter() < end:
                body = {'user': int(rng.choice(users)), 'k': 10}
                t = time.perf_counter()
                try:
                    r = await client.post('/recommend', json=body)
                    ok = r.status_code == 200 and \
                        len(r.json()['items']) == 10
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t)
                else:
                    failures[0] += 1
        start = time.perf_counter()
        await asyncio.gather(*[one_client() for _ in range(clients)])
        took = time.perf_counter() - start
    return summary(latencies, took, failures[0])


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def children(pid):
    out = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                with open(f'/proc/{name}/stat') as f:
                    if int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                        out.append(int(name))
            except OSError:
                pass
    return out


class Server:
    """``scripts/serve.py`` in a subprocess, stopped with SIGTERM."""

    def __init__(self, model_dir, workers):
        self.port = free_port()
        self.log = tempfile.TemporaryFile('w+')
        self.url = f'http://{HOST}:{self.port}'
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, 'scripts', 'serve.py'),
             '--model-dir', model_dir, '--host', HOST, '--port',
             str(self.port), '--workers', str(workers), '--log-level',
             'info'],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.monotonic() + 120
        line = ''
        while time.monotonic() < deadline and self.proc.poll() is None:
            line = self.proc.stdout.readline()
            if line.startswith('serving'):
                break
        if not line.startswith('serving'):
            self.stop()
            raise RuntimeError(f'serve.py did not start: {line!r}')
        self.wait_for_workers(workers, deadline)

    def wait_for_workers(self, workers, deadline):
        """``serving`` means one worker answers; measure once all do (each
        fresh connection may land on any worker; /health names it)."""
        import httpx
        seen = set()
        while len(seen) < workers and time.monotonic() < deadline:
            with httpx.Client(trust_env=False) as client:
                seen.add(client.get(self.url + '/health').json()['pid'])
            time.sleep(0.05)

    def processes(self):
        kids = [p for p in children(self.proc.pid)
                if 'resource_tracker' not in open(
                    f'/proc/{p}/cmdline').read()]
        return kids or [self.proc.pid]

    def restarts(self):
        """Workers uvicorn found dead or hung and replaced, from its log."""
        self.log.seek(0)
        return sum('died' in line for line in self.log)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def serve_bench(args):
    print(f'model: {args.model_dir}; {args.seconds:.0f} s per measurement; '
          f'client and server share this machine ({os.cpu_count()} cores, '
          f'load average {os.getloadavg()[0]:.1f} at the start)', flush=True)
    res, users = in_process(args.model_dir, args.seconds)
    print(HEADER)
    print(row('in-process recommend()', res), flush=True)
    rows = [dict(part='serve', run='in-process', workers=0, clients=1,
                 **res)]
    for workers in (1, 2):
        server = Server(args.model_dir, workers)
        try:
            asyncio.run(load(server.url, users, 4, 2))       # warm-up
            for clients in (1, 4, 16):
                res = measure(server, users, clients, args.seconds)
                print(row(f'HTTP, {workers} worker(s), {clients:2d} clients',
                          res), flush=True)
                rows.append(dict(part='serve', run='http', workers=workers,
                                 clients=clients, **res))
        finally:
            server.stop()
        print(f'  ({workers} worker(s): {server.restarts()} worker '
              'restarts)', flush=True)
    if args.soak:
        server = Server(args.model_dir, 2)
        try:
            res = measure(server, users, 16, args.soak)
            rss = [(harness.peak_gib(p) or float('nan')) * 1024
                   for p in server.processes()]
        finally:
            server.stop()
        print(row(f'soak {args.soak:.0f} s, 2 workers, 16 cl.', res))
        print(f"soak: {res['n']} requests, {res['failures']} failed, "
              f'{server.restarts()} worker restarts; peak RSS per worker '
              f"{', '.join(f'{r:.0f}' for r in rss)} MB", flush=True)
        rows.append(dict(part='serve', run='soak', workers=2, clients=16,
                         seconds=args.soak, peak_rss_mb=max(rss), **res))
    return [{k: float(v) if isinstance(v, onp.floating) else v
             for k, v in r.items()} for r in rows]


# --------------------------------------------------------------------------
# Top-k for every user at ML-20M's shape
# --------------------------------------------------------------------------
def all_users_bench(args):
    """Runs in a fresh process so that the peak RSS is this job's."""
    import mxnet as mx

    from d2l_recsys.data.synthetic import SHAPES
    from d2l_recsys.models import GMF, MF
    from d2l_recsys.serving import (Interactions, Predictor,
                                    write_all_recommendations)
    U, I, N = (SHAPES['ml-20m'][k] for k in ('num_users', 'num_items',
                                             'num_ratings'))
    start = time.perf_counter()
    rng = onp.random.default_rng(0)
    train = Interactions.from_pairs(rng.integers(0, U, N),
                                    rng.integers(0, I, N), None, U, I)
    net = MF(30, U, I) if args.model == 'mf' else GMF(32, U, I)
    net.initialize(mx.init.Normal(0.1))
    pred = Predictor(net, args.model, {}, onp.arange(1, U + 1),
                     onp.arange(1, I + 1), train,
                     titles=[f'Movie {i}' for i in range(1, I + 1)])
    setup = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        users, rows = write_all_recommendations(
            pred, os.path.join(tmp, 'recs.csv'), 10, quiet=args.quiet)
        took = time.perf_counter() - start
        size = os.path.getsize(os.path.join(tmp, 'recs.csv')) / 2 ** 20
    peak = harness.peak_gib() * 1024
    print(f'all users at ML-20M shape ({U:,} x {I:,}, {N:,} training '
          f'interactions, untrained {type(net).__name__}): top-10 for '
          f'{users:,} users ({rows:,} rows, {size:.0f} MB CSV) in {took:.1f} '
          f's ({users / took:,.0f} users/s); setup {setup:.1f} s; peak RSS '
          f'{peak:,.0f} MB', flush=True)
    return [dict(part='all-users', model=type(net).__name__, users=users,
                 items=I, training_pairs=N, seconds=took,
                 setup_seconds=setup, peak_rss_mb=peak)]


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    harness.add_option(p)                                 # --json FILE
    p.add_argument('--model-dir', default=os.path.join('runs', 'mfrun'),
                   help='a run or export folder to serve')
    p.add_argument('--seconds', type=float, default=10,
                   help='length of each load measurement')
    p.add_argument('--soak', type=float, default=60,
                   help='seconds of the soak (0 skips it)')
    p.add_argument('--model', choices=['mf', 'gmf'], default='mf',
                   help='model of the ML-20M-shape run')
    p.add_argument('--only', choices=['serve', 'all-users'],
                   help='one part only')
    p.add_argument('--quiet', action='store_true',
                   help='no progress lines in the all-users run')
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args()
    rows = []
    if args.only != 'all-users':
        if not os.path.isfile(os.path.join(args.model_dir, 'model.json')) \
                and not os.path.isfile(os.path.join(args.model_dir,
                                                    'export.json')):
            sys.exit(f'{args.model_dir}: no run there; train one first '
                     '(see --help)')
        rows += serve_bench(args)
    if args.only == 'all-users':
        import d2l_recsys  # noqa: F401  (numpy mode)
        rows += all_users_bench(args)
        if args.child:
            return harness.report(dict(rows=rows))
    elif args.only is None:            # in a fresh process (its peak)
        rows += harness.checked(harness.python(
            'bench/bench_serve.py', '--only', 'all-users', '--child',
            '--model', args.model, *(['--quiet'] if args.quiet else [])),
            'all-users', echo='all-users')['rows']
    harness.write(args.json, 'bench_serve', rows)


if __name__ == '__main__':
    main()
