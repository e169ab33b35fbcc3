#!/usr/bin/env python
"""How cost grows with the data: every model for one epoch plus evaluation
at the shapes of ML-100K, ML-1M, ML-10M and ML-20M (synthetic data from
d2l_recsys.data.synthetic, generated once into DIR/data/ and reused).

Each run is a training script in a subprocess of its own, so that its peak
memory (ru_maxrss) is its own; the seconds per phase (read, split,
iterators, epochs, evaluate) come from its metrics.json.  Writes
DIR/scale.json and DIR/scale.html (log-log: seconds against ratings, one
line per model and phase) and prints the table.

    python bench/bench_scale.py --out runs/scale [--shapes ml-100k,ml-1m]
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from d2l_recsys.data.synthetic import SHAPES, generate  # noqa: E402
from d2l_recsys.files import read_json, write_json  # noqa: E402
from d2l_recsys.plot import save_figure  # noqa: E402

import record  # noqa: E402

RANKING = ['--protocol', 'ncf', '--batch-size', '65536', '--eval-users',
           '20000']
RUNS = {
    'mf': ['train_mf.py'],
    'autorec': ['train_autorec.py'],
    'autorec-dense': ['train_autorec.py', '--formulation', 'dense'],
    'gmf': ['train_neumf.py', '--model', 'gmf', *RANKING],
    'neumf': ['train_neumf.py', '--model', 'neumf', *RANKING],
}
# Runs that a shape makes pointless, and why.
SKIP = {
    ('autorec-dense', 'ml-20m'): 'dense rows of 138,493 users: ~200 GFLOP '
    'a batch, an epoch of ~6 minutes here (bench/bench_autorec.py times it '
    'on a few steps); the sparse formulation is the default there',
}
# Runs the child under a wrapper that records its own peak memory.
WRAP = ('import resource, runpy, sys, atexit\n'
        'out = sys.argv.pop(1)\n'
        'def peak():\n'
        '    with open(out, "w") as f:\n'
        '        f.write(str(resource.getrusage(resource.RUSAGE_SELF)'
        '.ru_maxrss))\n'
        'atexit.register(peak)\n'
        'sys.argv = sys.argv[1:]\n'
        'runpy.run_path(sys.argv[0], run_name="__main__")\n')


def data_for(shape, folder):
    path = os.path.join(folder, 'data', shape)
    if not os.path.exists(os.path.join(path, 'synthetic.json')):
        start = time.perf_counter()
        generate(shape, path, seed=0)
        print(f'{shape}: generated in {time.perf_counter() - start:.0f} s',
              flush=True)
    return path


def run(model, shape, data, folder):
    out = os.path.join(folder, 'runs', f'{shape}-{model}')
    peak = out + '.peak'
    os.makedirs(os.path.dirname(out), exist_ok=True)
    args = [sys.executable, '-c', WRAP, peak,
            os.path.join(ROOT, 'scripts', RUNS[model][0]), *RUNS[model][1:],
            '--data-dir', data, '--epochs', '1', '--devices', 'cpu',
            '--quiet', '--out', out]
    start = time.perf_counter()
    p = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        return dict(status='failed', error=p.stderr.strip()[-500:],
                    wall_seconds=wall)
    with open(os.path.join(out, 'metrics.json')) as f:
        metrics = json.load(f)
    with open(peak) as f:
        peak_mb = int(f.read()) / 1024
    return dict(status='ok', wall_seconds=wall, phases=metrics['phases'],
                seconds=metrics['seconds'], peak_mb=peak_mb)


def figure(rows):
    import plotly.graph_objects as go
    fig = go.Figure()
    done = [r for r in rows if r['status'] == 'ok']
    for model in sorted({r['model'] for r in done}):
        mine = [r for r in done if r['model'] == model]
        for phase in ('read', 'split', 'iterators', 'epochs', 'evaluate'):
            pts = [(r['num_ratings'], r['phases'][phase]) for r in mine
                   if phase in r['phases']]
            if pts:
                fig.add_scatter(x=[p[0] for p in pts], y=[p[1] for p in pts],
                                mode='lines+markers',
                                name=f'{model}: {phase}')
    fig.update_xaxes(type='log', title_text='ratings')
    fig.update_yaxes(type='log', title_text='seconds')
    fig.update_layout(title='Cost against the number of ratings (one epoch '
                            '+ evaluation)', template='plotly_white')
    return fig


def table(rows):
    lines = ['| shape | model | read | split | iterators | epoch | '
             'evaluation | peak memory |', '| --- ' * 8 + '|']
    for r in rows:
        if r['status'] != 'ok':
            lines.append(f"| {r['shape']} | {r['model']} | "
                         f"{r['status']}: {r.get('reason', r.get('error'))}"
                         ' | | | | | |')
            continue
        ph = r['phases']
        cells = [f"{ph[k]:.1f} s" if k in ph else '—' for k in
                 ('read', 'split', 'iterators', 'epochs', 'evaluate')]
        lines.append(f"| {r['shape']} | {r['model']} | " + ' | '.join(cells)
                     + f" | {r['peak_mb'] / 1024:.2f} GB |")
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--out', required=True)
    p.add_argument('--shapes', default='ml-100k,ml-1m,ml-10m,ml-20m')
    p.add_argument('--models', default=','.join(RUNS))
    record.add_option(p)
    args = p.parse_args()
    # rows of other shapes and models from an earlier run are kept
    path = os.path.join(args.out, 'scale.json')
    rows = read_json(path) if os.path.exists(path) else []
    order = list(SHAPES), list(RUNS)
    measured = []       # this run's rows, the only ones --json records
    for shape in args.shapes.split(','):
        data = data_for(shape, args.out)
        for model in args.models.split(','):
            row = dict(shape=shape, model=model,
                       num_ratings=SHAPES[shape]['num_ratings'])
            if (model, shape) in SKIP:
                row.update(status='skipped', reason=SKIP[model, shape])
            else:
                row.update(run(model, shape, data, args.out))
            measured.append(row)
            rows = [r for r in rows if (r['shape'], r['model']) !=
                    (shape, model)] + [row]
            rows.sort(key=lambda r: (order[0].index(r['shape']),
                                     order[1].index(r['model'])))
            print(table([row]).splitlines()[-1], flush=True)
            write_json(path, rows)
    save_figure(figure(rows), os.path.join(args.out, 'scale.html'))
    print(table(rows))
    record.write(args.json, 'bench_scale', measured)


if __name__ == '__main__':
    main()
