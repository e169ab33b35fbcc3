#!/usr/bin/env python
"""Peers measured, not guessed: the project's rating models against what a
practitioner would use instead, on the same split files.

* ``mf`` (``scripts/train_mf.py``, the book's settings) against Surprise's
  ``SVD`` with 30 factors (``bench/peers/surprise_svd.py``);
* ``autorec`` (``scripts/train_autorec.py``, the book's settings) against
  the same AutoRec written plainly in PyTorch
  (``bench/peers/torch_peers.py autorec``).

Each peer runs with the python of a virtual environment the bench makes
once under the work folder (``venv-surprise``, ``venv-torch``); neither is
a dependency of the package.  For every shape the bench writes one random
90/10 split (seed 0) as two files, ``train.tsv`` and ``test.tsv`` (ML-100K's
``u.data`` format; ``.csv`` with a header for half-star ratings, which the
project's reader refuses in tab-separated files), and gives exactly those
to every contestant.  ML-100K is the real data; the other shapes are
synthetic (``d2l_recsys.data.synthetic``, seed 0).

Measured per contestant: the test RMSE after each epoch and the seconds of
training and evaluation up to then (a time-to-RMSE curve), the train+test
seconds (everything after reading the data, measured inside the program:
ours from its ``metrics.json``), and the wall seconds of the whole process.
Surprise's curve comes from separate fits of 1, 2, 5 and 10 epochs.

    python bench/bench_peers.py --data-dir ../shared/data/ml-100k \\
        [--shapes ml-100k,ml-1m] [--work runs/peers] [--threads 1] \\
        [--variant 'mf-fast=train_mf.py --batch-size 8192 --sparse-grad'] \\
        [--json bench/results/peers.json] [--plot docs/peers.html]
"""
import argparse
import json
import os
import shlex
import shutil
import sys

import numpy as onp

import harness
from harness import ROOT, ensure_venv, thread_env

# The task of each of our training scripts, and the peer it is measured
# against.
TASKS = {'train_mf.py': 'mf', 'train_autorec.py': 'autorec'}
PEER_OF = {'mf': 'surprise-svd', 'autorec': 'torch-autorec'}
# The shapes: ML-100K is the real data, the others synthetic.
SHAPES = ['ml-100k', 'ml-1m', 'ml-10m', 'ml-20m']
# Surprise's SVD has no per-epoch hook: one more run fits these counts.
SVD_CURVE = '1,2,5,10'


def ours(script, *args):
    """A contestant of ours: a script of ``scripts/`` and its options."""
    if script not in TASKS:
        raise ValueError(f'{script}: expected one of {", ".join(TASKS)}')
    return dict(side='ours', task=TASKS[script], script=script,
                args=list(args))


def peer(task, venv, program, *args, curve=None):
    """A peer: a program of ``bench/peers/`` run by its venv's python;
    ``curve``: the options of one more run that gives the curve."""
    return dict(side='peer', task=task, venv=venv, program=program,
                args=list(args), curve=curve)


# The contestants; add a variant of ours with one line, e.g.
# 'mf-fast': ours('train_mf.py', '--preset', 'fast'), or --variant.
CONTESTANTS = {
    'surprise-svd': peer('mf', 'surprise', 'surprise_svd.py',
                         curve=['--epochs', SVD_CURVE]),
    'mf': ours('train_mf.py'),
    'mf-fast': ours('train_mf.py', '--preset', 'fast'),
    'torch-autorec': peer('autorec', 'torch', 'torch_peers.py', 'autorec'),
    'autorec': ours('train_autorec.py'),
    'autorec-mean': ours('train_autorec.py', '--bias-init', 'mean'),
}


def parse_variant(text):
    """``NAME=SCRIPT ARGS...`` -> ``(name, contestant)``."""
    name, sep, command = text.partition('=')
    words = shlex.split(command)
    if not sep or not name or not words:
        raise ValueError(f"--variant {text!r}: expected NAME=SCRIPT ARGS, "
                         "e.g. 'mf-fast=train_mf.py --sparse-grad'")
    return name, ours(*words)


# --- data --------------------------------------------------------------------
def source_ratings(shape, data_dir, work):
    """The ratings of a shape (raw ids): real ML-100K from ``data_dir``,
    else synthetic data generated once into ``work/data/SHAPE``.  Returns
    ``(frame, facts)``."""
    from d2l_recsys.data.formats import read_ratings
    from d2l_recsys.data.locate import resolve_ratings_file
    if shape == 'ml-100k':
        if not data_dir:
            raise SystemExit('ml-100k is the real data: give --data-dir or '
                             'set $D2L_RECSYS_DATA')
        path = resolve_ratings_file(data_dir, shape)
        return read_ratings(path, dataset=shape), dict(data='real')
    folder = harness.shape_data(shape, work)
    with open(os.path.join(folder, 'synthetic.json')) as f:
        floor = json.load(f)['floor_rmse']
    path = resolve_ratings_file(folder, shape)
    return read_ratings(path, dataset=shape), dict(data='synthetic',
                                                   floor_rmse=floor)


def split_ratings(frame, test_ratio=0.1, seed=0):
    """A random split of ``frame``: ``(train, test)``, each in the
    frame's order."""
    rng = onp.random.default_rng(seed)
    is_test = onp.zeros(len(frame), bool)
    is_test[rng.permutation(len(frame))[:round(test_ratio * len(frame))]] \
        = True
    return frame[~is_test], frame[is_test]


def write_ratings(frame, path):
    """``user item rating timestamp`` lines, tab-separated (``.tsv``) or
    comma-separated with MovieLens' header (``.csv``), atomically."""
    from d2l_recsys.files import atomic_write
    csv = path.endswith('.csv')
    cols = frame[['user_id', 'item_id', 'rating', 'timestamp']]
    atomic_write(path, lambda tmp: cols.to_csv(
        tmp, sep=',' if csv else '\t', index=False,
        header=['userId', 'movieId', 'rating', 'timestamp'] if csv
        else False))


def split_files(shape, data_dir, work):
    """The split files of a shape, written once into
    ``work/splits/SHAPE``; returns the contents of its ``split.json``."""
    from d2l_recsys.files import write_json
    folder = os.path.join(work, 'splits', shape)
    info = os.path.join(folder, 'split.json')
    if os.path.exists(info):
        with open(info) as f:
            return json.load(f)
    frame, facts = source_ratings(shape, data_dir, work)
    train, test = split_ratings(frame)
    whole = bool((frame['rating'] % 1 == 0).all())
    ext = '.tsv' if whole else '.csv'   # half stars: refused in .tsv
    split = dict(shape=shape, **facts, seed=0, test_ratio=0.1,
                 train=os.path.join(folder, 'train' + ext),
                 test=os.path.join(folder, 'test' + ext),
                 num_train=len(train), num_test=len(test),
                 rating_scale=[float(frame['rating'].min()),
                               float(frame['rating'].max())])
    write_ratings(train, split['train'])
    write_ratings(test, split['test'])
    write_json(info, split)
    print(f"{shape}: split written to {folder} ({len(train):,} train, "
          f"{len(test):,} test ratings)", flush=True)
    return split


# --- runs --------------------------------------------------------------------
def last_lines(done, lines=5):
    """The last lines of a finished run's output."""
    return ''.join(done['tail'].splitlines(True)[-lines:])


def run_ours(name, c, split, work, env):
    """One of our training scripts on the split; its row."""
    out = os.path.join(work, 'runs', f"{split['shape']}-{name}")
    shutil.rmtree(out, ignore_errors=True)
    # checkpoints only at the end: the peers write none
    args = [sys.executable, os.path.join(ROOT, 'scripts', c['script']),
            '--train-file', split['train'], '--test-file', split['test'],
            '--devices', 'cpu', '--checkpoint-every', '1000', '--out', out,
            *c['args']]
    done = harness.run(args, out + '.log', name, env)
    if done['code']:
        return dict(status='failed', error=last_lines(done),
                    wall_seconds=done['seconds'])
    with open(os.path.join(out, 'metrics.json')) as f:
        m = json.load(f)
    history = m['history']
    elapsed = onp.cumsum(m['epoch_seconds'])     # each epoch with its eval
    return dict(status='ok', test_rmse=m['test_rmse'], epochs=len(history),
                train_test_seconds=m['seconds']['train'],
                data_seconds=m['seconds']['data'],
                evaluate_seconds=m['phases'].get('evaluate'),
                num_train=m['num_train'],
                num_test=m['num_test'],
                wall_seconds=done['seconds'], curve=[
                    [float(s), h['test_rmse']]
                    for s, h in zip(elapsed, history)])


def run_peer(name, c, split, work, env):
    """A peer program in its venv on the split; its row.  The wall seconds
    are the main run's (not the curve's extra run)."""
    out = os.path.join(work, 'runs', f"{split['shape']}-{name}")
    args = harness.python(os.path.join('bench', 'peers', c['program']),
                          *c['args'], '--train', split['train'], '--test',
                          split['test'],
                          executable=ensure_venv(c['venv'], work))
    if c['venv'] == 'surprise':
        args += ['--rating-scale', ','.join(map(str, split['rating_scale']))]
    runs = [([], '')] + ([(c['curve'], '-curve')] if c['curve'] else [])
    results, walls = [], []
    for extra, suffix in runs:
        done = harness.run(args + extra, out + suffix + '.log',
                           name + suffix, env)
        if done['code'] or not done['result']:
            return dict(status='failed', wall_seconds=done['seconds'],
                        error=last_lines(done))
        results.append(done['result'])
        walls.append(done['seconds'])
    r = results[0]
    row = dict(status='ok', test_rmse=r['test_rmse'], epochs=r['epochs'],
               train_test_seconds=r['train_test_seconds'],
               data_seconds=r['data_seconds'], wall_seconds=walls[0],
               num_train=r['num_train'], num_test=r['num_test'],
               library=r['library'])
    if 'history' in r:
        row['curve'] = [[h['elapsed'], h['test_rmse']] for h in r['history']]
    else:       # separate fits, one per epoch count
        fits = sorted((f for x in results for f in x['fits']),
                      key=lambda f: f['epochs'])
        row.update(curve=[[f['seconds'], f['test_rmse']] for f in fits],
                   curve_epochs=[f['epochs'] for f in fits],
                   test_rmse_unclipped=r['fits'][-1]['test_rmse_unclipped'],
                   num_impossible=r['fits'][-1]['num_impossible'],
                   note=r['note'])
    return row


# --- the table ---------------------------------------------------------------
def compare(rows):
    """Set, on each of our rows, the figures against its task's peer of
    the same shape: ``speedup`` (peer's train+test seconds / ours),
    ``wall_speedup`` (the same of wall seconds) and ``rmse_diff`` (ours
    minus the peer's test RMSE).  Returns ``rows``."""
    peers = {(r['shape'], r['contestant']): r for r in rows
             if r['side'] == 'peer' and r['status'] == 'ok'}
    for r in rows:
        if r['side'] != 'ours':
            continue
        for key in ('peer', 'speedup', 'wall_speedup', 'rmse_diff'):
            r.pop(key, None)
        p = peers.get((r['shape'], PEER_OF[r['task']]))
        if r['status'] == 'ok' and p is not None:
            r.update(peer=p['contestant'],
                     speedup=p['train_test_seconds'] /
                     r['train_test_seconds'],
                     wall_speedup=p['wall_seconds'] / r['wall_seconds'],
                     rmse_diff=r['test_rmse'] - p['test_rmse'])
    return rows


def order(row):
    """Rows by shape (by size), task, then each peer before ours."""
    return (SHAPES.index(row['shape']),
            list(PEER_OF).index(row['task']), row['side'] == 'ours',
            row['contestant'])


def text_table(rows):
    """The rows as aligned text."""
    lines = [f"{'shape':8s} {'contestant':14s} {'epochs':>6s} {'RMSE':>7s} "
             f"{'train+test':>10s} {'wall':>8s} {'test':>8s} | "
             f"{'speed-up':>8s} {'RMSE-peer':>9s}"]
    for r in rows:
        head = f"{r['shape']:8s} {r['contestant']:14s}"
        if r['status'] != 'ok':
            lines.append(f"{head} {r['status']}: "
                         f"{r.get('error', '').strip()[-200:]}")
            continue
        vs = (f"{r['speedup']:7.2f}x {r['rmse_diff']:+9.4f}"
              if 'speedup' in r else '')
        lines.append(f"{head} {r['epochs']:6d} {r['test_rmse']:7.4f} "
                     f"{r['train_test_seconds']:9.2f}s "
                     f"{r['wall_seconds']:7.2f}s {r['num_test']:8d} | {vs}")
    return '\n'.join(lines)


def figure(rows):
    """Time-to-RMSE curves: one panel per shape and task, a line per
    contestant (x: seconds of training and evaluation, log; y: test
    RMSE)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    done = [r for r in rows if r['status'] == 'ok']
    panels = list(dict.fromkeys((r['shape'], r['task']) for r in done))
    names = list(dict.fromkeys(r['contestant'] for r in done))
    colors = ['#636efa', '#ef553b', '#00cc96', '#ab63fa', '#ffa15a',
              '#19d3f3', '#ff6692', '#b6e880']
    fig = make_subplots(rows=1, cols=max(len(panels), 1),
                        subplot_titles=[f'{s}: {t}' for s, t in panels])
    shown = set()
    for col, (shape, task) in enumerate(panels, 1):
        for r in done:
            if (r['shape'], r['task']) != (shape, task):
                continue
            name = r['contestant']
            fig.add_trace(go.Scatter(
                x=[p[0] for p in r['curve']], y=[p[1] for p in r['curve']],
                mode='lines+markers', name=name, legendgroup=name,
                showlegend=name not in shown,
                line=dict(color=colors[names.index(name) % len(colors)])),
                row=1, col=col)
            shown.add(name)
        fig.update_xaxes(type='log', title_text='seconds', row=1, col=col)
        fig.update_yaxes(title_text='test RMSE', row=1, col=col)
    fig.update_layout(title='Test RMSE against seconds of training and '
                      'evaluation (same split files for every contestant)',
                      height=420, template='plotly_white')
    return fig


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--data-dir', default=os.environ.get('D2L_RECSYS_DATA'),
                   help='MovieLens 100K (default: $D2L_RECSYS_DATA)')
    p.add_argument('--shapes', default='ml-100k,ml-1m',
                   help='ml-100k (real), ml-1m, ml-10m (synthetic)')
    p.add_argument('--work', default=os.path.join('runs', 'peers'),
                   help='venvs, data, splits and runs (default: '
                   'runs/peers)')
    p.add_argument('--contestants',
                   help=f"comma-separated (default: {','.join(CONTESTANTS)} "
                   'and every --variant)')
    p.add_argument('--variant', action='append', default=[],
                   metavar='NAME=SCRIPT ARGS',
                   help="one more of ours, e.g. 'mf-fast=train_mf.py "
                   "--batch-size 8192 --sparse-grad'")
    p.add_argument('--threads', type=int,
                   help='threads of every library (OMP_NUM_THREADS, ...); '
                   "default: each library's own")
    p.add_argument('--plot', help='the curves as HTML (default: '
                   'WORK.html, beside the work folder)')
    harness.add_option(p)
    args = p.parse_args()
    contestants = dict(CONTESTANTS)
    try:
        contestants.update(parse_variant(v) for v in args.variant)
    except ValueError as e:
        p.error(str(e))
    chosen = args.contestants.split(',') if args.contestants else \
        list(contestants)
    unknown = sorted(set(chosen) - set(contestants))
    if unknown:
        p.error(f"unknown contestant(s) {', '.join(unknown)}; known: "
                f"{', '.join(contestants)}")
    shapes = args.shapes.split(',')
    if not set(shapes) <= set(SHAPES):
        p.error(f"--shapes {args.shapes}: expected some of "
                f"{', '.join(SHAPES)}")
    work = os.path.abspath(args.work)
    env = thread_env(args.threads)
    from d2l_recsys.files import read_json, write_json
    from d2l_recsys.plot import save_figure
    # This run's rows go to --json and --plot; WORK/peers.json keeps those
    # of earlier runs too, and ours are compared with the latest peer row.
    path = os.path.join(work, 'peers.json')
    rows = read_json(path) if os.path.exists(path) else []
    measured = []
    for shape in shapes:
        split = split_files(shape, args.data_dir, work)
        for name in chosen:
            c = contestants[name]
            print(f'{shape}: {name}', flush=True)
            row = dict(shape=shape, contestant=name, side=c['side'],
                       task=c['task'], data=split['data'],
                       floor_rmse=split.get('floor_rmse'),
                       threads=args.threads,
                       load_at_start=harness.load_average(),
                       command=shlex.join([c.get('script') or c['program'],
                                           *c['args']]))
            run = run_ours if c['side'] == 'ours' else run_peer
            row.update(run(name, c, split, work, env))
            measured.append(row)
            rows = sorted([r for r in rows if (r['shape'], r['contestant'])
                           != (shape, name)] + [row], key=order)
            compare(rows)
            write_json(path, rows)
            print(text_table([row]).splitlines()[-1], flush=True)
    measured.sort(key=order)
    plot = args.plot or work.rstrip(os.sep) + '.html'
    save_figure(figure(measured), plot)
    print(text_table(measured))
    print(f'curves written to {plot} (every row of this and earlier runs: '
          f'{path})')
    harness.write(args.json, 'bench_peers', measured)


if __name__ == '__main__':
    main()
