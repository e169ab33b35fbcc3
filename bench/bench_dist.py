#!/usr/bin/env python
"""What MXNet's parameter server costs on one machine: examples per second
and bytes pulled and pushed per step for 1 vs 2 workers, dense vs row-sparse
gradients, MF and NeuMF, at a fixed global batch (each of N workers gets
global/N).

    python bench/bench_dist.py --data-dir ~/ml-100k --out DIR [--epochs 2]

Runs, per model (MF: scripts/train_mf.py with the book's defaults; NeuMF:
scripts/train_neumf.py --protocol ncf), each a short training on ML-100K:

* ``local``: the plain script, ``--kvstore device``, the global batch;
* ``dist 1w`` and ``dist 2w``: ``--kvstore dist_sync`` under
  ``python -m d2l_recsys.launch -n N -s 1``, dense gradients;
* ``dist Nw, --sparse-grad``: the package's row-sparse gradients under
  dist_sync.  MXNet 1.9.1's server aborts on a row-sparse gradient of a
  dense weight, so the package refuses them (exit 2); the row records that
  refusal and the bytes a ``row_sparse_pull`` *would* move;
* ``SparseEmbedding MF`` (bench-only model, 1 and 2 workers): the same MF
  with ``gluon.contrib.nn.SparseEmbedding`` tables (row-sparse weights and
  gradients), whose forward makes ``gluon.Trainer`` call
  ``kvstore.row_sparse_pull`` for the batch's rows; the rows it pulls are
  measured.  The package's MF keeps dense weights.

Bytes per step and worker: with dense weights and ``update_on_kvstore=True``
a worker pushes every gradient and pulls every parameter in full, so both
equal the model's float32 size (from the saved model).  A row-sparse pull
moves only the distinct rows of the worker's batch (their mean count is
measured on ML-100K batches of that size) times the row width x 4 bytes,
plus the dense non-embedding parameters; row ids (8 bytes a row) are not
counted.  ``local`` has no kvstore traffic (one device).

Writes DIR/dist.json, DIR/runs/*/ (each run's folder, its log beside), ``--json
FILE`` and a Markdown table.  Every child is stopped at the end, also on
failure or timeout (the launcher stops children; ``--timeout`` bounds a run).
"""
import argparse
import contextlib
import os
import platform
import re
import shutil
import sys
import time

import numpy as onp

import harness
from harness import ROOT

# In a scheduler or server of the micro-benchmark's job, importing MXNet
# serves and never returns.
import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon, nd, npx  # noqa: E402
from mxnet.gluon import nn  # noqa: E402
from mxnet.gluon.contrib.nn import SparseEmbedding  # noqa: E402

from d2l_recsys import data as D  # noqa: E402
from d2l_recsys.defaults import MF, PROTOCOL_DEFAULTS  # noqa: E402
from d2l_recsys.files import read_json, write_json  # noqa: E402
from d2l_recsys.launch import launch  # noqa: E402
from d2l_recsys.ranking import ranking_protocol  # noqa: E402
from d2l_recsys.run_folder import load_model  # noqa: E402

NCF = PROTOCOL_DEFAULTS['ncf']
MODELS = {
    'mf': dict(script='train_mf.py', args=[], batch=MF['batch_size'],
               metric='test_rmse', label='RMSE'),
    'neumf': dict(script='train_neumf.py',
                  args=['--model', 'neumf', '--protocol', 'ncf'],
                  batch=NCF['batch_size'], metric='hit_rate@10',
                  label='HR@10'),
}
SERVER_ABORT = ("MXNet 1.9.1's server aborts on a row-sparse gradient of a "
                "dense weight (ndarray_function.cc: 'Check failed: size == "
                "to->Size() ... copying size mismatch')")


# --- Running the package's scripts ---
def run_logged(cmd, workers, log, timeout):
    """Run ``cmd``: alone (workers=0) or as a dist job of ``workers``
    workers and one server; all output to ``log``.  Returns the exit code
    (124 after the timeout)."""
    if not workers:
        return harness.run(cmd, log, timeout=timeout)['code']
    with open(log, 'w') as f:
        with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
            return launch(cmd, num_workers=workers, num_servers=1,
                          timeout=timeout)


def first_error(log):
    """The last error line of a run's log, without its ``[worker k]``
    prefix (or its last line)."""
    with open(log, errors='replace') as f:
        lines = [line.strip() for line in f if line.strip()]
    found = [line for line in lines if not line.startswith('[launch]') and
             re.search(r'Error|Warning:|error:', line)]
    line = (found or lines or ['(no output)'])[-1]
    return re.sub(r'^\[[a-z]+ ?\d*\] ', '', line)


def package_run(model, workers, sparse, args, folder):
    """One training of the package.  Returns the row's dict."""
    spec, n = MODELS[model], max(workers, 1)
    name = f"{model}-{'local' if not workers else f'dist{workers}'}" + \
        ('-sparse' if sparse else '')
    out = os.path.join(folder, name)
    shutil.rmtree(out, ignore_errors=True)   # no stale metrics.json
    log = out + '.log'          # beside the run's folder, which is new
    cmd = [sys.executable, os.path.join(ROOT, 'scripts', spec['script']),
           *spec['args'], '--data-dir', args.data_dir, '--epochs',
           str(args.epochs), '--devices', 'cpu', '--quiet', '--out', out,
           '--batch-size', str(spec['batch'] // n), '--kvstore',
           'dist_sync' if workers else 'device',
           '--sparse-grad' if sparse else '--no-sparse-grad']
    row = dict(model=model, run=name, workers=workers,
               gradients='row-sparse' if sparse else 'dense',
               batch_per_worker=spec['batch'] // n, command=cmd)
    start = time.perf_counter()
    code = run_logged(cmd, workers, log, args.timeout)
    row['wall_seconds'] = time.perf_counter() - start
    metrics = os.path.join(out, 'metrics.json')
    if code != 0:
        row.update(exit_code=code, error=first_error(log))
        if sparse and code == 2 and 'error:' in row['error']:
            row.update(status='not possible', reason='not possible with '
                       'MXNet 1.9.1: its server aborts on row-sparse '
                       'gradients of dense weights (‡)')
            return row
        if not os.path.exists(metrics):
            row['status'] = 'failed'
            return row
        # rank 0 finished and wrote its results; another process failed
    m = read_json(metrics)
    per_epoch = m['num_train'] * (1 if model == 'mf' else
                                  1 + m['config']['num_negatives'])
    examples = per_epoch * len(m['history'])
    per_worker = m.get('examples_per_second') or \
        [examples / m['seconds']['train']]
    net = load_model(out)[0]
    dense = 4 * sum(int(onp.prod(p.shape))
                    for p in net.collect_params().values())
    row.update(status='ok' if code == 0 else 'ok, then failed',
               examples_per_second=per_worker,
               examples_per_second_total=sum(per_worker),
               steps_examples_per_second=examples / m['phases']['epochs'],
               train_seconds=m['seconds']['train'], metric=m[spec['metric']],
               metric_name=spec['label'],
               bytes_pulled_per_step=dense if workers else 0,
               bytes_pushed_per_step=dense if workers else 0)
    return row


# --- What a row_sparse_pull would move ---
def batch_rows(model, data_dir, batch_size, seed=0):
    """Mean distinct users and items in a worker's training batch of
    ``batch_size`` examples, over one epoch of ML-100K batches as the run
    draws them (MF: shuffled training ratings; NeuMF: positives with their
    sampled negatives)."""
    if model == 'mf':
        train = D.rating_split(data_dir, split=MF['split'])[0]
        u, i = D.rating_arrays(train)[:2]
        order = onp.random.default_rng(seed).permutation(len(u))
        batches = [(u[order[s:s + batch_size]], i[order[s:s + batch_size]])
                   for s in range(0, len(u) - batch_size + 1, batch_size)]
    else:
        setup = ranking_protocol(data_dir, protocol='ncf', seed=seed)
        it = D.NegativeSamplingIter(
            setup['train_users'], setup['train_items'], setup['num_users'],
            setup['num_items'], NCF['num_negatives'],
            batch_size=batch_size, seed=seed)
        batches = [(x.asnumpy(), y.asnumpy()) for x, y, _ in it
                   if len(x) == batch_size]
    return dict(users=float(onp.mean([len(onp.unique(b[0]))
                                      for b in batches])),
                items=float(onp.mean([len(onp.unique(b[1]))
                                      for b in batches])))


def embedding_tables(block):
    """``{parameter name: rows}`` of every ``nn.Embedding`` in ``block``."""
    found = {}
    if isinstance(block, nn.Embedding):
        found[block.weight.name] = block.weight.shape[0]
    for child in block._children.values():
        found.update(embedding_tables(child))
    return found


def sparse_bytes(model_dir, rows):
    """Bytes a row_sparse_pull of the batch's rows would move for the saved
    model in ``model_dir``: distinct rows x width x 4 for each embedding
    table, every other parameter in full."""
    net = load_model(model_dir)[0]
    users, items = net.config['num_users'], net.config['num_items']
    tables = embedding_tables(net)
    total = 0.0
    for name, p in net.collect_params().items():
        if name in tables:
            need = rows['users'] if tables[name] == users else rows['items']
            assert tables[name] in (users, items) and users != items
            total += need * p.shape[1] * 4
        else:
            total += 4 * int(onp.prod(p.shape))
    return total


# --- Bench-only model: MF with SparseEmbedding, trained under dist_sync ---
class _Table(SparseEmbedding):
    """``SparseEmbedding`` that keeps what its last pull returned."""

    def forward(self, x):
        self.pulled = self.weight.row_sparse_data(x)  # row_sparse_pull
        return nd.Embedding(x, self.pulled, name='fwd', **self._kwargs)


class SparseMF(gluon.Block):
    """Bench-only: the package's MF (p_u . q_i + b_u + b_i) with row-sparse
    tables (weights and gradients)."""

    def __init__(self, num_factors, num_users, num_items):
        super().__init__()
        with self.name_scope():
            self.P = _Table(num_users, num_factors)
            self.Q = _Table(num_items, num_factors)
            self.user_bias = _Table(num_users, 1)
            self.item_bias = _Table(num_items, 1)

    def forward(self, u, i):
        return (nd.sum(self.P(u) * self.Q(i), axis=1)
                + self.user_bias(u).reshape(-1)
                + self.item_bias(i).reshape(-1))


def sparse_worker(args):
    """A worker of the micro-benchmark (under the launcher): the book's MF
    settings, its seq-aware split, the global batch shared out as
    ``data.ShardOrder`` does; writes OUT/worker-RANK.json."""
    npx.reset_np()   # SparseEmbedding is a legacy-NDArray block
    train, test, num_users, num_items = D.rating_split(args.data_dir,
                                                       split=MF['split'])
    u, i, r = D.rating_arrays(train)
    kv = mx.kv.create('dist_sync')
    n, rank, per = kv.num_workers, kv.rank, args.batch_size // kv.num_workers
    mx.random.seed(0)
    net = SparseMF(MF['num_factors'], num_users, num_items)
    net.initialize(mx.init.Normal(0.01))
    # A row-sparse weight makes the Trainer create the kvstore (and send the
    # optimizer to the servers) in the first forward, before step() could
    # set rescale_grad: step(B) then raises "Possible change in the
    # batch_size".  So the scale is fixed here and step(1) is called.
    trainer = gluon.Trainer(net.collect_params(), 'adam', dict(
        learning_rate=MF['lr'], wd=MF['wd'],
        rescale_grad=1.0 / args.batch_size), kvstore=kv)
    loss = gluon.loss.L2Loss()
    tables = [net.P, net.Q, net.user_bias, net.item_bias]
    pulled, steps, seconds = onp.zeros(4), 0, 0.0
    for epoch in range(args.epochs):
        order = onp.random.default_rng([0, epoch]).permutation(len(u))
        count = len(u) // args.batch_size
        mine = order[:count * args.batch_size].reshape(count, n, per)[:, rank]
        start = time.perf_counter()
        for idx in mine:
            with autograd.record():
                l = loss(net(nd.array(u[idx]), nd.array(i[idx])),
                         nd.array(r[idx]))
            l.backward()
            trainer.step(1)
            pulled += [t.pulled.indices.shape[0] for t in tables]
        nd.waitall()
        seconds += time.perf_counter() - start
        steps += count
    tu, ti, tr = D.rating_arrays(test)
    pred = net(nd.array(tu), nd.array(ti)).asnumpy()
    rows = pulled / steps
    write_json(os.path.join(args.out, f'worker-{rank}.json'), dict(
        rank=rank, num_workers=n, batch_per_worker=per, steps=steps,
        seconds=seconds, examples_per_second=steps * per / seconds,
        rows_pulled_per_step=dict(zip(['P', 'Q', 'user_bias', 'item_bias'],
                                      rows.tolist())),
        bytes_pulled_per_step=float(4 * (rows[0] * MF['num_factors'] +
                                         rows[1] * MF['num_factors'] +
                                         rows[2] + rows[3])),
        test_rmse=float(onp.sqrt(onp.mean((pred - tr) ** 2)))))
    return 0


def sparse_run(workers, args, folder):
    """The micro-benchmark under the launcher.  Returns the row's dict."""
    out = os.path.join(folder, f'sparse-embedding-mf-dist{workers}')
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    cmd = [sys.executable, os.path.abspath(__file__), '--sparse-worker',
           '--data-dir', args.data_dir, '--epochs', str(args.epochs),
           '--batch-size', str(MF['batch_size']), '--out', out]
    row = dict(model='mf', run=f'SparseEmbedding MF (bench-only) dist'
               f'{workers}', workers=workers, gradients='row-sparse',
               batch_per_worker=MF['batch_size'] // workers, command=cmd)
    start = time.perf_counter()
    code = run_logged(cmd, workers, os.path.join(out, 'log.txt'),
                      args.timeout)
    row['wall_seconds'] = time.perf_counter() - start
    if code != 0:
        row.update(status='failed', exit_code=code,
                   error=first_error(os.path.join(out, 'log.txt')))
        return row
    done = [read_json(os.path.join(out, f'worker-{k}.json'))
            for k in range(workers)]
    eps = [w['examples_per_second'] for w in done]
    pulled = float(onp.mean([w['bytes_pulled_per_step'] for w in done]))
    row.update(status='ok', examples_per_second=eps,
               examples_per_second_total=sum(eps),
               steps_examples_per_second=sum(eps), metric=done[0]['test_rmse'],
               metric_name='RMSE', bytes_pulled_per_step=pulled,
               bytes_pushed_per_step=pulled,
               rows_pulled_per_step=done[0]['rows_pulled_per_step'])
    return row


# --- The benchmark and what it prints ---
def text_line(r):
    """A row as one line: its speed and bytes, or why it did not run
    (docs/benchmarks.md shows the rows as a table)."""
    head = f"{r['run']:42s} {r['batch_per_worker']:5d}/worker"
    if not r['status'].startswith('ok'):
        return f"{head}  {r.get('reason') or r['status']}: " + \
            r.get('error', '')
    moved = f"  {r['bytes_pulled_per_step'] / 1e3:,.1f} kB pulled/step" \
        if r['workers'] else ''
    would = r.get('would_pull_bytes')
    return (f"{head}  {r['examples_per_second_total']:9,.0f} ex/s "
            f"({r['steps_examples_per_second']:,.0f} steps only)  "
            f"{r['metric_name']} {r['metric']:.4f}{moved}" +
            (f" (row-sparse: {would / 1e3:,.1f} kB)" if would else '') +
            ('' if r['status'] == 'ok' else f"  [{r['status']}]"))


def summary(rows):
    """Measured speed of the dist runs relative to local, per model."""
    speed = {r['run']: r['steps_examples_per_second']
             for r in rows if r['status'].startswith('ok')}
    parts = []
    for model in dict.fromkeys(r['model'] for r in rows):
        base = speed.get(f'{model}-local')
        if base:
            rel = [f'{w} worker(s) {speed[f"{model}-dist{w}"] / base:.2f}x'
                   for w in (1, 2) if f'{model}-dist{w}' in speed]
            parts.append(f"{model}: {', '.join(rel) or 'no dist run'}")
    return ('Steps-only speed relative to local: ' + '; '.join(parts)
            + '.') if parts else ''


def bench(args):
    folder = os.path.join(args.out, 'runs')
    os.makedirs(folder, exist_ok=True)
    facts = dict(cores=os.cpu_count(), mxnet=mx.__version__,
                 python=platform.python_version(), epochs=args.epochs)
    rows, cache = [], {}
    for model in args.models:
        dense_dir = None
        for workers, sparse in ((0, False), (1, False), (2, False),
                                (1, True), (2, True)):
            print(f'{model}: workers={workers} sparse={sparse} ...',
                  flush=True)
            row = package_run(model, workers, sparse, args, folder)
            if row['status'] == 'ok' and not sparse:
                dense_dir = os.path.join(folder, row['run'])
            rows.append(row)
        for row in rows:
            if row['model'] == model and row['workers'] and dense_dir:
                key = (model, row['batch_per_worker'])
                if key not in cache:
                    cache[key] = batch_rows(model, args.data_dir, key[1])
                row['distinct_rows_per_batch'] = cache[key]
                row['would_pull_bytes'] = sparse_bytes(dense_dir, cache[key])
    if 'mf' in args.models:
        for workers in (1, 2):
            print(f'SparseEmbedding MF: workers={workers} ...', flush=True)
            row = sparse_run(workers, args, folder)
            key = ('mf', row['batch_per_worker'])
            if key not in cache:
                cache[key] = batch_rows('mf', args.data_dir, key[1])
            row['distinct_rows_per_batch'] = cache[key]
            row['would_pull_bytes'] = 4 * (
                (cache[key]['users'] + cache[key]['items'])
                * (MF['num_factors'] + 1))
            rows.append(row)
    write_json(os.path.join(args.out, 'dist.json'), dict(facts, rows=rows))
    print(f"{facts['cores']} cores, MXNet {facts['mxnet']}, "
          f"{facts['epochs']} epoch(s) of ML-100K a run:")
    print('\n'.join(text_line(r) for r in rows))
    print(summary(rows))
    if any(r['status'] == 'not possible' for r in rows):
        print(f'(‡) {SERVER_ABORT}, so the package refuses --sparse-grad '
              'under dist (exit 2)')
    harness.write(args.json, 'bench_dist', rows)
    return 0 if all(r['status'] in ('ok', 'not possible') for r in rows) \
        else 1   # a failed run: its row says why


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data-dir', default=os.environ.get('D2L_RECSYS_DATA'),
                   help='the ML-100K folder (default: $D2L_RECSYS_DATA)')
    p.add_argument('--out', default='runs/dist', help='output folder')
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--models', default='mf,neumf',
                   type=lambda s: [m for m in s.split(',') if m],
                   help='comma-separated subset of mf,neumf')
    p.add_argument('--timeout', type=float, default=1800,
                   help='seconds after which one run is stopped')
    p.add_argument('--sparse-worker', action='store_true',
                   help=argparse.SUPPRESS)   # a worker of the micro-bench
    p.add_argument('--batch-size', type=int, help=argparse.SUPPRESS)
    harness.add_option(p)
    args = p.parse_args(argv)
    if not args.data_dir:
        p.error('give --data-dir or set D2L_RECSYS_DATA')
    if set(args.models) - set(MODELS):
        p.error(f'--models: expected a subset of {",".join(MODELS)}')
    args.data_dir = os.path.abspath(os.path.expanduser(args.data_dir))
    if args.sparse_worker:
        return sparse_worker(args)
    return bench(args)


if __name__ == '__main__':
    sys.exit(main())
