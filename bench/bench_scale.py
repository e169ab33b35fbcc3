#!/usr/bin/env python
"""How cost grows with the data, on synthetic data of the releases' shapes
(``d2l_recsys.data.synthetic``, generated once into OUT/data/ and reused).
Two parts (``--parts``):

* ``runs``: every model for one epoch plus evaluation at each shape, each
  run a training script in a process of its own: the seconds per phase
  (read, split, iterators, epochs, evaluate) from its metrics.json, the
  peak memory its own.  Writes OUT/scale.json (this and earlier runs'
  rows) and OUT/scale.html (log-log: seconds against ratings, a line per
  model and phase) and prints the table; ``--json`` records this run's
  rows.
* ``read``: read + validate + renumber each shape's ratings file (or the
  release in ``--data-dir``), each in a fresh process, the best of
  ``--repeats``: seconds and the process's peak memory before the step
  (interpreter, numpy, pandas, MXNet) and after it.  The target for an
  ML-20M-sized ratings.csv is 30 s and 3 GB.  Printed only.

    python bench/bench_scale.py --out runs/scale [--shapes ml-100k,ml-1m]
    python bench/bench_scale.py --out runs/scale --parts read \\
        --shapes ml-20m
"""
import argparse
import os
import sys
import time

import harness

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
    'a batch, an epoch of many minutes (docs/benchmarks.md, "Figures '
    'measured once": sparse against dense at this shape); the sparse '
    'formulation is the default there',
}
PHASES = ('read', 'split', 'iterators', 'epochs', 'evaluate')
READ_TARGET = dict(seconds=30, gib=3)


# --- runs --------------------------------------------------------------------
def run(model, shape, data, folder):
    """One model's epoch and evaluation at a shape: its row's figures."""
    out = os.path.join(folder, 'runs', f'{shape}-{model}')
    done = harness.run(harness.python(
        os.path.join('scripts', RUNS[model][0]), *RUNS[model][1:],
        '--data-dir', data, '--epochs', '1', '--devices', 'cpu', '--quiet',
        '--out', out), out + '.log', peak=True)
    if done['code']:
        return dict(status='failed', error=done['tail'].strip()[-500:],
                    wall_seconds=done['seconds'])
    from d2l_recsys.files import read_json
    metrics = read_json(os.path.join(out, 'metrics.json'))
    return dict(status='ok', wall_seconds=done['seconds'],
                phases=metrics['phases'], seconds=metrics['seconds'],
                peak_gib=done['peak_gib'])


def figure(rows):
    import plotly.graph_objects as go
    fig = go.Figure()
    done = [r for r in rows if r['status'] == 'ok']
    for model in sorted({r['model'] for r in done}):
        mine = [r for r in done if r['model'] == model]
        for phase in PHASES:
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
        peak = r['peak_gib'] if 'peak_gib' in r else r['peak_mb'] / 1024
        lines.append(f"| {r['shape']} | {r['model']} | " + ' | '.join(
            f"{r['phases'][k]:.1f} s" if k in r['phases'] else '—'
            for k in PHASES) + f' | {peak:.2f} GB |')
    return '\n'.join(lines)


def runs_part(shapes, models, folder):
    """This run's rows; OUT/scale.json keeps earlier runs' other rows."""
    from d2l_recsys.data.synthetic import SHAPES
    from d2l_recsys.files import read_json, write_json
    from d2l_recsys.plot import save_figure
    path = os.path.join(folder, 'scale.json')
    rows = read_json(path) if os.path.exists(path) else []
    measured = []
    for shape in shapes:
        data = harness.shape_data(shape, folder)
        for model in models:
            row = dict(shape=shape, model=model,
                       num_ratings=SHAPES[shape]['num_ratings'])
            if (model, shape) in SKIP:
                row.update(status='skipped', reason=SKIP[model, shape])
            else:
                row.update(run(model, shape, data, folder))
            measured.append(row)
            rows = [r for r in rows if (r['shape'], r['model']) !=
                    (shape, model)] + [row]
            rows.sort(key=lambda r: (list(SHAPES).index(r['shape']),
                                     list(RUNS).index(r['model'])))
            print(table([row]).splitlines()[-1], flush=True)
            write_json(path, rows)
    save_figure(figure(rows), os.path.join(folder, 'scale.html'))
    print(table(rows))
    return measured


# --- reading -----------------------------------------------------------------
def read_child(data_dir):
    """One reading in this process; its figures as the harness's result."""
    from d2l_recsys.data import formats
    before = harness.peak_gib()
    start = time.perf_counter()
    path = formats.resolve_ratings_file(data_dir)
    raw = formats.read_ratings(path)
    read = time.perf_counter() - start
    (data,), num_users, num_items = formats.densify([raw])
    total = time.perf_counter() - start
    harness.report(dict(file=path, rows=len(data), users=num_users,
                        items=num_items, read_s=read, densify_s=total - read,
                        total_s=total, peak_before_gib=before,
                        peak_gib=harness.peak_gib()))


def read_part(folders, repeats):
    """Each folder read ``repeats`` times, a fresh process each time."""
    for folder in folders:
        runs = [harness.checked(harness.python(
            'bench/bench_scale.py', '--read-child', folder), 'reading')
            for _ in range(repeats)]
        best = min(runs, key=lambda r: r['total_s'])
        peak = max(r['peak_gib'] for r in runs)
        every = ', '.join(f"{r['total_s']:.1f}" for r in runs)
        ok = best['total_s'] <= READ_TARGET['seconds'] and \
            peak <= READ_TARGET['gib']
        print(f"{best['file']}: {best['rows']:,} ratings, "
              f"{best['users']:,} users, {best['items']:,} items\n"
              f"  read + validate {best['read_s']:6.1f} s, renumber "
              f"{best['densify_s']:5.1f} s, total {best['total_s']:6.1f} s "
              f"(best of {len(runs)}; all: {every})\n"
              f"  peak {peak:5.2f} GiB (of which "
              f"{best['peak_before_gib']:.2f} before the step: interpreter "
              f"and libraries); target <= {READ_TARGET['seconds']} s and "
              f"<= {READ_TARGET['gib']} GB: {'met' if ok else 'MISSED'}",
              flush=True)


def main():
    if sys.argv[1:2] == ['--read-child']:
        return read_child(sys.argv[2])
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--out', required=True, help='data, runs and tables')
    p.add_argument('--parts', default='runs', help='runs, read')
    p.add_argument('--shapes', default='ml-100k,ml-1m,ml-10m,ml-20m')
    p.add_argument('--models', default=','.join(RUNS))
    p.add_argument('--data-dir', help='for the read part: read this '
                   'release instead of the shapes\' synthetic files')
    p.add_argument('--repeats', type=int, default=3,
                   help='readings of each file (read part)')
    harness.add_option(p)
    args = p.parse_args()
    parts, shapes = args.parts.split(','), args.shapes.split(',')
    models = args.models.split(',')
    from d2l_recsys.data.synthetic import SHAPES
    if not set(parts) <= {'runs', 'read'} or not set(shapes) <= \
            set(SHAPES) or not set(models) <= set(RUNS):
        p.error(f"--parts: runs, read; --shapes: {', '.join(SHAPES)}; "
                f"--models: {', '.join(RUNS)}")
    rows = runs_part(shapes, models, args.out) if 'runs' in parts else []
    if 'read' in parts:
        read_part([args.data_dir] if args.data_dir else
                  [harness.shape_data(s, args.out) for s in shapes],
                  args.repeats)
    harness.write(args.json, 'bench_scale', rows)


if __name__ == '__main__':
    main()
