#!/usr/bin/env python
"""Each of our training epochs beside its floor, measured in the same run
(machines differ by up to 2x; the ratio is the figure that travels), on
synthetic data of ``--shape`` (generated once into WORK/data/).

* ``mf``: ``scripts/train_mf.py`` (the book's settings) beside a bare loop
  of the same split, block, L2 loss and Adam, hybridized: per batch of a
  pre-shuffled host array three ``mx.np.array`` copies, forward and loss
  under ``autograd.record``, ``backward``, ``trainer.step``; one
  ``waitall`` at the end (after ``--warmup`` uncounted steps).
* ``neumf``: ``scripts/train_neumf.py`` (``NEUMF``: the NCF protocol in
  batches of 131,072, the cheapest layout of the operators' sum in
  ``bench/results/bounds.json``, whose split first layer the model takes
  by itself at this size; evaluation on 20,000 users) beside FLOPs /
  sgemm rate + bytes / bandwidth: FLOPs per example from the config's
  layers (2 x in x out per dense layer and the GMF product,
  backward 2x forward) x positives x (1 + negatives), at the faster of
  ``mx.np.dot`` and ``FullyConnected`` on the tower's shapes at the batch
  size; bytes: each example's user and item rows of the GMF and MLP tables
  read and their gradients written, and per batch Adam's read and write of
  w, m, v for the expected distinct rows, at a ``numpy.copyto`` rate.
* ``autorec``: ``scripts/train_autorec.py`` beside steps x one Adam update
  of the full weights (``harness.update_ms``); also the epoch
  with evaluation, and the test RMSE beside the global mean's;
  ``autorec-mean`` the same with ``--bias-init mean``, beside the same
  floor (measured once).

Each part runs in a process of its own (ours with its peak memory) with
the environment its script gives MXNet.  AutoRec's runs OpenMP on every
core, which on a busy machine makes its small operators wait at every
barrier (ML-1M, one of two cores busy: 19 s an epoch, 2.3 s with
OMP_NUM_THREADS=1, which this bench passes on to ours and the floor).

    python bench/bench_floor.py --shape ml-20m --json bench/results/floor.json
    python bench/bench_floor.py --shape ml-1m --autorec-formulation sparse
"""
import argparse
import os
import sys
import time

import numpy as onp

import harness
from harness import best_seconds

MODELS = ('mf', 'neumf', 'autorec')
# What the parent measures: the floors' kinds, and AutoRec started at the
# training mean (--bias-init mean) beside the same floor.
MEASURED = MODELS + ('autorec-mean',)
# NeuMF's run: the NCF protocol in the cheapest layout of the operators'
# sum (bench/results/bounds.json) at ML-20M's shape (batches of 131,072;
# the model splits its tower's first layer by itself at that size),
# 20,000 users evaluated.
NEUMF_BATCH = 131072
NEUMF = ['--model', 'neumf', '--protocol', 'ncf', '--batch-size',
         str(NEUMF_BATCH), '--eval-users', '20000']


# --- the floors, each in a process of its own (--bare KIND) ----------------
def bare_mf(data, warmup):
    """Seconds of one epoch of the bare MF loop (see the module's
    docstring), with the run's config, split and block."""
    import mxnet as mx
    from mxnet import autograd, gluon, init
    from d2l_recsys import registry
    from d2l_recsys.data.interactions import rating_arrays
    from d2l_recsys.data.spec import materialize
    from d2l_recsys.defaults import INIT_SIGMA
    from d2l_recsys.runs.common import ordered_params
    entry = registry.get('mf')
    cfg = entry.config(data_dir=data, devices='cpu')
    d = materialize(cfg.data_spec())
    u, i, r = rating_arrays(d.train)
    order = onp.random.default_rng(cfg.seed).permutation(len(u))
    u, i = u[order].astype(onp.int32), i[order].astype(onp.int32)
    r = r[order].astype(onp.float32)
    mx.random.seed(cfg.seed)
    net = entry.build(cfg, d.num_users, d.num_items)
    net.initialize(init.Normal(INIT_SIGMA), ctx=mx.cpu())
    net.hybridize()
    loss = gluon.loss.L2Loss()
    loss.hybridize()
    trainer = gluon.Trainer(ordered_params(net), 'adam',
                            {'learning_rate': cfg.lr, 'wd': cfg.wd})
    size, steps = cfg.batch_size, len(u) // cfg.batch_size

    def run(num):
        for s in range(num):
            part = slice(s * size, (s + 1) * size)
            users, items = mx.np.array(u[part]), mx.np.array(i[part])
            ratings = mx.np.array(r[part])
            with autograd.record():
                l = loss(net(users, items), ratings)
            l.backward()
            trainer.step(size)
        mx.nd.waitall()
    run(min(warmup, steps))
    start = time.perf_counter()
    run(steps)
    return dict(seconds=time.perf_counter() - start, steps=steps,
                batch_size=size, warmup_steps=min(warmup, steps),
                sparse_grad=net.config['sparse_grad'])


def sgemm_rate(shapes, repeats, op='dot'):
    """GFLOP/s of float32 ``(m, k) . (k, n)`` products over ``shapes``
    (the best time of each shape, summed), by ``mx.np.dot`` (``'dot'``) or
    by ``npx.fully_connected`` (``'fc'``, what ``nn.Dense`` runs; MXNet
    1.9's dot is several times slower on the tower's shapes)."""
    import mxnet as mx

    def product(a, b):
        if op == 'dot':
            return mx.np.dot(a, b)
        return mx.npx.fully_connected(a, b, no_bias=True,
                                      num_hidden=b.shape[0])
    flops, seconds = 0, 0.0
    for m, k, n in shapes:
        a = mx.np.random.uniform(size=(m, k))
        b = mx.np.random.uniform(size=(k, n) if op == 'dot' else (n, k))
        seconds += best_seconds(lambda: product(a, b).wait_to_read(),
                                repeats)
        flops += 2 * m * k * n
    return flops / seconds / 1e9


def bandwidth(megabytes, repeats):
    """GB/s of a host copy (``numpy.copyto``) of ``megabytes``, counting
    the bytes read and those written."""
    src = onp.ones(megabytes << 18, dtype=onp.float32)
    dst = onp.zeros_like(src)
    return 2 * src.nbytes / best_seconds(lambda: onp.copyto(dst, src),
                                         repeats) / 1e9


def distinct(counts, batch):
    """Expected distinct rows in a batch of ``batch`` examples drawn from
    examples that use row ``j`` ``counts[j]`` times."""
    share = counts / counts.sum()
    return float((1 - (1 - share) ** batch).sum())


def bare_neumf(data, batch_size, copy_mb, repeats):
    """The parts of NeuMF's arithmetic and memory floor (see the module's
    docstring), from the run's config and data."""
    from d2l_recsys.config import RankingConfig
    from d2l_recsys.data.interactions import rating_arrays
    from d2l_recsys.data.spec import materialize
    cfg = RankingConfig(model='neumf', protocol='ncf', data_dir=data,
                        batch_size=batch_size, devices='cpu')
    d = materialize(cfg.data_spec())
    users, items, _ = rating_arrays(d.train)
    gmf, mlp = cfg.num_factors, cfg.mlp_factors or cfg.num_factors
    sizes = [2 * mlp, *cfg.nums_hiddens]
    dense = list(zip(sizes, sizes[1:])) + [(gmf + sizes[-1], 1)]
    forward = sum(2 * a * b for a, b in dense) + gmf
    positives, k = len(users), cfg.num_negatives
    examples = positives * (1 + k)
    batches = -(-examples // batch_size)
    # Every example carries its user; an item is a positive's, or drawn
    # uniformly as a negative (about k * positives / num_items times each).
    user_rows = distinct(onp.bincount(users, minlength=d.num_users)
                         .astype(float), batch_size)
    item_rows = distinct(onp.bincount(items, minlength=d.num_items)
                         + k * positives / d.num_items, batch_size)
    row = 4 * (gmf + mlp)        # a user's (or item's) GMF + MLP rows
    example_bytes = 2 * row * 2  # user + item rows, read, gradient written
    adam_bytes = (user_rows + item_rows) * row * 6   # w, m, v read + write
    tower = [(batch_size, a, b) for a, b in zip(sizes, sizes[1:])]
    rates = {f'{name}_{op}_gflops': sgemm_rate(shapes, repeats, op)
             for name, shapes in (('tower', tower), ('square', [(2048,) * 3]))
             for op in ('dot', 'fc')}
    return dict(rates, examples=examples, batches=batches,
                batch_size=batch_size, flops_per_example=3 * forward,
                layers=[list(x) for x in dense], gmf_factors=gmf,
                mlp_factors=mlp, distinct_users_per_batch=user_rows,
                distinct_items_per_batch=item_rows,
                bytes=examples * example_bytes + batches * adam_bytes,
                bandwidth_gbs=bandwidth(copy_mb, repeats))


def bare_autorec(data, formulation, repeats):
    """One Adam update of AutoRec's full weights (ms), the steps of an
    epoch, and the global mean's test RMSE on the run's split."""
    import mxnet as mx
    from mxnet import gluon, init
    from d2l_recsys import registry
    from d2l_recsys.data.interactions import rating_arrays
    from d2l_recsys.data.spec import materialize
    from d2l_recsys.defaults import INIT_SIGMA
    from d2l_recsys.runs.common import ordered_params
    entry = registry.get('autorec')
    cfg = entry.config(data_dir=data, devices='cpu',
                       formulation=formulation)
    d = materialize(cfg.data_spec())
    train, test = rating_arrays(d.train)[2], rating_arrays(d.test)[2]
    mean = float(train.mean())
    baseline = float(onp.sqrt(((test.astype(float) - mean) ** 2).mean()))
    rows = d.num_items if cfg.variant == 'item' else d.num_users
    net = entry.build(cfg, d.num_users, d.num_items)
    net.initialize(init.Normal(INIT_SIGMA), ctx=mx.cpu())
    trainer = gluon.Trainer(ordered_params(net), 'adam',
                            {'learning_rate': cfg.lr, 'wd': cfg.wd})
    return dict(update_ms=harness.update_ms(net, trainer, cfg.batch_size,
                                            repeats),
                steps=rows // cfg.batch_size, batch_size=cfg.batch_size,
                params=sum(p.data().size for p in
                           net.collect_params().values()),
                train_mean=mean, global_mean_rmse=baseline)


def bare_main(argv):
    """``--bare KIND``: measure one floor, the harness's result."""
    p = argparse.ArgumentParser(prog='bench_floor.py --bare')
    p.add_argument('kind', choices=MODELS)
    p.add_argument('--data', required=True)
    p.add_argument('--warmup', type=int, default=50)
    p.add_argument('--batch-size', type=int, default=65536)
    p.add_argument('--copy-mb', type=int, default=1024)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--formulation', default='auto')
    a = p.parse_args(argv)
    if a.kind == 'mf':
        out = bare_mf(a.data, a.warmup)
    elif a.kind == 'neumf':
        out = bare_neumf(a.data, a.batch_size, a.copy_mb, a.repeats)
    else:
        out = bare_autorec(a.data, a.formulation, a.repeats)
    out.update(omp_num_threads=os.environ.get('OMP_NUM_THREADS', 'default'),
               bare_peak_gib=harness.peak_gib())
    harness.report(out)


# --- the parent: our runs, the floors, the table ---------------------------
def autorec_env():
    """The environment train_autorec.py gives MXNet (OpenMP on every core,
    glibc's huge pages), so that its floor is measured likewise."""
    from d2l_recsys.commands.train import autorec_environment
    return dict(autorec_environment(), **os.environ)


def ours(script, options, data, out):
    """Our training script for one epoch, its peak memory its own:
    ``(metrics.json, peak GiB)``."""
    from d2l_recsys.files import read_json
    print(f'  ours: {script} {" ".join(options)} ...', flush=True)
    done = harness.run(harness.python(
        os.path.join('scripts', script), *options, '--data-dir', data,
        '--epochs', '1', '--devices', 'cpu', '--quiet', '--out', out),
        out + '.log', peak=True)
    if done['code']:
        raise RuntimeError(f"{script} exited with {done['code']}: "
                           f"{done['tail'].strip()[-800:]}")
    return read_json(os.path.join(out, 'metrics.json')), done['peak_gib']


def bare(kind, data, options=(), env=None):
    """A ``--bare KIND`` child's measurement."""
    print(f'  floor: --bare {kind} ...', flush=True)
    return harness.checked(harness.python(
        'bench/bench_floor.py', '--bare', kind, '--data', data, *options),
        f'--bare {kind}', env=env)


def measure_mf(data, args):
    """Our MF epoch beside the bare loop's."""
    metrics, peak = ours('train_mf.py', [], data, args.out('mf'))
    floor = bare('mf', data, ['--warmup', str(args.warmup)])
    text = (f"bare loop, {floor['steps']:,} steps of {floor['batch_size']}"
            f"{', row-sparse' if floor['sparse_grad'] else ''}")
    return dict(ours_seconds=metrics['phases']['epochs'],
                floor_seconds=floor['seconds'], floor_text=text,
                parts=floor, peak_gib=peak, metric='test RMSE',
                metric_value=metrics['test_rmse'],
                sparse_grad=metrics['sparse_grad'])


def measure_neumf(data, args):
    """Our NeuMF epoch beside its arithmetic + memory floor."""
    metrics, peak = ours('train_neumf.py', NEUMF, data, args.out('neumf'))
    batch = metrics['config']['batch_size']
    f = bare('neumf', data, ['--batch-size', str(batch), '--copy-mb',
                             str(args.copy_mb)])
    flops = f['flops_per_example'] * f['examples']
    rate = f['tower_gflops'] = max(f['tower_dot_gflops'],
                                   f['tower_fc_gflops'])
    arithmetic = flops / (rate * 1e9)
    memory = f['bytes'] / (f['bandwidth_gbs'] * 1e9)
    f.update(flops=flops, arithmetic_seconds=arithmetic,
             memory_seconds=memory)
    text = (f"{flops / 1e12:.2f} TFLOP at {rate:.1f} GFLOP/s (tower "
            f"shapes; dot {f['tower_dot_gflops']:.1f}, FC "
            f"{f['tower_fc_gflops']:.1f}, square FC "
            f"{f['square_fc_gflops']:.1f}) + "
            f"{f['bytes'] / 1e9:.1f} GB at {f['bandwidth_gbs']:.1f} GB/s")
    k = metrics['config']['top_k']
    from d2l_recsys.models.neumf import choose_layout
    return dict(ours_seconds=metrics['phases']['epochs'],
                floor_seconds=arithmetic + memory, floor_text=text, parts=f,
                peak_gib=peak, metric=f'HR@{k}',
                metric_value=metrics[f'hit_rate@{k}'],
                sparse_grad=metrics['sparse_grad'], batch_size=batch,
                layout=choose_layout(metrics['num_users'],
                                     metrics['num_items']))


def measure_autorec(data, args, bias_init='normal'):
    """Our AutoRec epoch (and with evaluation) beside steps x update."""
    formulation = args.autorec_formulation
    name = 'autorec' if bias_init == 'normal' else f'autorec-{bias_init}'
    metrics, peak = ours('train_autorec.py', [
        '--formulation', formulation, '--bias-init', bias_init], data,
        args.out(name))
    # one floor for both starts: the update does not depend on the biases
    if formulation not in args.autorec_floors:
        args.autorec_floors[formulation] = bare(
            'autorec', data, ['--formulation', formulation], autorec_env())
    f = args.autorec_floors[formulation]
    floor = f['steps'] * f['update_ms'] / 1e3
    ph = metrics['phases']
    with_eval = ph['epochs'] + ph.get('evaluate', 0.0)
    text = f"{f['steps']:,} steps × {f['update_ms']:.1f} ms Adam update"
    return dict(ours_seconds=ph['epochs'], floor_seconds=floor,
                floor_text=text, parts=f, peak_gib=peak, metric='test RMSE',
                metric_value=metrics['test_rmse'],
                formulation=metrics['formulation'], bias_init=bias_init,
                ours_with_eval_seconds=with_eval,
                ratio_with_eval=with_eval / floor,
                global_mean_rmse=f['global_mean_rmse'],
                beats_global_mean=metrics['test_rmse'] < f['global_mean_rmse'])


MEASURE = {'mf': measure_mf, 'neumf': measure_neumf,
           'autorec': measure_autorec,
           'autorec-mean': lambda data, args: measure_autorec(data, args,
                                                              'mean')}


def line(m):
    """One printed row of the table."""
    head = f"{m['shape']:8s} {m['model']:8s}"
    if m['status'] != 'ok':
        return f"{head} {m['status']}: {m['error']}"
    extra = ''
    if 'ours_with_eval_seconds' in m:
        extra = (f"  with evaluation {m['ours_with_eval_seconds']:.1f} s "
                 f"({m['ratio_with_eval']:.2f}x); global mean RMSE "
                 f"{m['global_mean_rmse']:.4f}")
    return (f"{head} {m['ours_seconds']:8.1f} {m['floor_seconds']:8.1f} "
            f"{m['ratio']:6.2f}x {m['peak_gib']:6.2f} GiB  {m['metric']} "
            f"{m['metric_value']:.4f}  [{m['floor_text']}]{extra}")


def main():
    if sys.argv[1:2] == ['--bare']:
        return bare_main(sys.argv[2:])
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--shape', default='ml-20m')
    p.add_argument('--models', default=','.join(MEASURED))
    p.add_argument('--work', default=os.path.join('runs', 'floor'),
                   help='data and run folders (default: runs/floor)')
    p.add_argument('--warmup', type=int, default=50,
                   help="uncounted steps before the bare MF loop's epoch")
    p.add_argument('--copy-mb', type=int, default=1024,
                   help='size of the copy that measures the bandwidth')
    p.add_argument('--autorec-formulation', default='auto',
                   choices=('auto', 'sparse', 'dense'))
    harness.add_option(p)
    args = p.parse_args()
    from d2l_recsys.data.synthetic import SHAPES
    from d2l_recsys.files import write_json
    models = args.models.split(',')
    unknown = sorted(set(models) - set(MEASURED)) + \
        ([args.shape] if args.shape not in SHAPES else [])
    if unknown:
        p.error(f"unknown {', '.join(unknown)}: models are "
                f"{', '.join(MEASURED)}, shapes {', '.join(SHAPES)}")
    data = harness.shape_data(args.shape, args.work)
    args.out = lambda model: os.path.join(args.work, 'runs',
                                          f'{args.shape}-{model}')
    args.autorec_floors = {}
    print(f"{'shape':8s} {'model':8s} {'ours s':>8s} {'floor s':>8s} "
          f"{'ratio':>7s} {'peak':>10s}", flush=True)
    rows = []
    for model in models:
        row = dict(shape=args.shape, model=model)
        start = time.perf_counter()
        try:
            row.update(MEASURE[model](data, args), status='ok')
            row['ratio'] = row['ours_seconds'] / row['floor_seconds']
        except (RuntimeError, OSError, KeyError) as e:
            row.update(status='failed', error=str(e))
        row['wall_seconds'] = time.perf_counter() - start
        rows.append(row)
        print(line(row), flush=True)
        write_json(os.path.join(args.work, f'floor-{args.shape}.json'), rows)
    harness.write(args.json, 'bench_floor', rows)


if __name__ == '__main__':
    main()
