#!/usr/bin/env python
"""How fast MXNet 1.9's own operators could train, at best, where the
package's epochs stay far from their floors (``bench_floor.py``) or its
AutoRec level with the PyTorch one (``bench_peers.py``): the operators a
training step cannot do without, each timed alone in the layout and
formulation that makes it cheapest, summed.  Everything else a real step
does (Python, the data, the engine's scheduling) is left out, so a real
run can only be slower: the sum is how close to a floor, or how much faster
than a peer, any arrangement of MXNet's operators can be.

* ``autorec-ml100k`` (one OpenMP thread, as ``bench_peers.py --threads
  1``): the 164 steps of 25 epochs at the book's settings (25 x 1682 //
  256: the book's loader rolls left-over rows into the next epoch), each
  the cheaper of the dense formulation (the encoder's and the decoder's
  ``FullyConnected``, forward and backward, and ``MaskedL2Loss``'s
  operators) and the observed-entries one (CSR products for the encoder,
  its weight gradient and the decoder's two gradients; the decoder's
  outputs at the entries by the cheaper of ``_DecodeAt``'s two ways; the
  squared error at the entries), both with the hidden layer's bias,
  sigmoid and dropout and Adam's update (the best of bare
  ``adam_update`` calls); and each epoch's evaluation (the encoder over
  every row, the decoder at the held-out entries), scaled from the same
  timings by rows and entries (linearly: evaluation batches are sparser,
  which costs the chunks more per entry, so this errs low).  Beside the
  PyTorch AutoRec's train+test seconds and ours (``train_autorec.py``,
  the best of ``--ours-repeats`` runs), run as ``bench_peers.py`` runs
  them (its programs, venv and split of the real ML-100K, one thread).
* ``autorec-ml10m``, ``autorec-ml20m`` (OpenMP on every core, huge pages,
  as ``train_autorec.py``): the same on a batch of 256 rows with the
  shape's density, beside ``bench_floor.py``'s floor measured likewise:
  ``rows // 256`` steps x one Adam update (``Trainer.step``, the median;
  ML-20M with its evaluation of every row).  Each weight is taken in the
  layout its CSR products want, so no transpose is counted.
* ``neumf-ml20m`` (MXNet's default threads, as ``train_neumf.py``): the
  model's forward and backward alone (four embedding lookups, the GMF
  product, the tower, the output layer and the log loss) plus Adam's
  update, per batch, for the cheapest of dense or row-sparse embedding
  gradients (lazy Adam), the tower's first layer on the joined embeddings
  or split in two (no concatenation), and batches of 32,768, 65,536 or
  131,072; times the epoch's batches.  Beside ``bench_floor.py``'s floor
  at its run's batch, its FLOPs and bytes from
  ``bench/results/floor.json`` over the sgemm rate and bandwidth measured
  in this run, and beside ours: ``bench_floor.neumf_epoch`` (one epoch of
  ``train_neumf.py`` in the floor's layout, everything but the
  evaluation, which takes 2,000 users; the best of ``--ours-repeats``)
  on synthetic data of ML-20M's shape in ``--work``.
  The batches' ids are drawn uniformly, which gives about 14% more
  distinct users a batch than the data (51,000 against 45,000 at
  65,536), so the row-sparse variants' gradients and updates are timed
  somewhat dearer than the data would make them.

Each part runs in a process of its own with its script's environment.

    python bench/bench_bounds.py --data-dir ../shared/data/ml-100k \\
        --json bench/results/bounds.json
"""
import argparse
import json
import os
import sys

import numpy as onp

import record
from bench_floor import (MARK, ROOT, bandwidth, best_seconds,
                         ml100k_autorec_runs, neumf_epoch, sgemm_rate,
                         subprocess_run)
from venvs import thread_env
from d2l_recsys.defaults import AUTOREC, INIT_SIGMA

PARTS = ('autorec-ml100k', 'autorec-ml10m', 'autorec-ml20m', 'neumf-ml20m')
RESULTS = os.path.join(ROOT, 'bench', 'results')
# AutoRec's book settings
HIDDEN, BATCH, EPOCHS = (AUTOREC[k] for k in ('num_hiddens', 'batch_size',
                                              'epochs'))
TRAIN_SHARE = 1 - AUTOREC['test_ratio']      # its random split


def ms(fn, repeats):
    """Best milliseconds of ``fn`` (its work waited for)."""
    import mxnet as mx

    def run():
        fn()
        mx.nd.waitall()
    return best_seconds(run, repeats) * 1e3


# --- AutoRec ----------------------------------------------------------------
def autorec_ops(width, density, repeats, seed=0):
    """Best milliseconds of each operator of one AutoRec training step on
    ``BATCH`` rows of ``width`` with ``density`` observed, and of Adam's
    update of the full weights."""
    import mxnet as mx
    from mxnet import autograd, gluon, init
    import d2l_recsys as rs
    from bench_autorec_step import update_ms
    from d2l_recsys.csr import Entries
    from d2l_recsys.models.autorec import _DecodeAt

    class Chunked(_DecodeAt):               # never the whole batch
        WHOLE_RATIO = 0
    rng = onp.random.default_rng(seed)
    mat = ((rng.random((BATCH, width)) < density) *
           rng.integers(1, 6, (BATCH, width))).astype('float32')
    x = mx.nd.array(mat).tostype('csr')                 # (B, n)
    entries = Entries(x)
    x_t, flat, nnz = entries.x_t(), entries.flat, entries.nnz   # (n, B)
    normal = lambda *shape: mx.nd.random.normal(0, INIT_SIGMA, shape)  # noqa
    v_t, w, c = normal(width, HIDDEN), normal(width, HIDDEN), normal(width)
    h, dy = normal(BATCH, HIDDEN), normal(BATCH, HIDDEN)
    out = {}
    # the observed-entries formulation, every weight as (n, k)
    out['encoder'] = ms(lambda: mx.nd.sparse.dot(
        x_t, v_t, transpose_a=True, forward_stype='default'), repeats)
    out['encoder_grad'] = ms(lambda: mx.nd.sparse.dot(
        x_t, dy, forward_stype='default'), repeats)
    out['decoder_chunked'] = ms(
        lambda: Chunked(entries, False)(h.as_np_ndarray(),
                                        w.as_np_ndarray(),
                                        c.as_np_ndarray()), repeats)
    out['decoder_full_take'] = ms(lambda: mx.nd.take(mx.nd.FullyConnected(
        h, w, c, num_hidden=width).reshape(-1), flat), repeats)
    out['decoder_input_grad'] = ms(lambda: mx.nd.sparse.dot(
        x_t, w, transpose_a=True, forward_stype='default'), repeats)
    out['decoder_grad'] = ms(lambda: mx.nd.sparse.dot(
        x_t, h, forward_stype='default'), repeats)
    # the hidden layer's bias, sigmoid and dropout, forward and backward
    pre, b = normal(BATCH, HIDDEN), normal(HIDDEN)
    out_e, r_e = normal(nnz), mx.nd.array(rng.random(nnz))
    for a in (pre, b, out_e):
        a.attach_grad()

    def hidden():
        with autograd.record():
            z = mx.nd.Dropout(mx.nd.sigmoid(mx.nd.broadcast_add(
                pre, b.reshape((1, -1)))), p=AUTOREC['dropout'],
                mode='always')
        z.backward(dy)
    out['hidden'] = ms(hidden, repeats)

    def loss_at_entries():          # the squared error at the entries
        with autograd.record():
            l = ((out_e - r_e) ** 2).sum() * 0.5
        l.backward()
    out['loss_sparse'] = ms(loss_at_entries, repeats)
    out['sparse_step'] = (out['encoder'] + out['encoder_grad'] +
                          min(out['decoder_chunked'],
                              out['decoder_full_take']) +
                          out['decoder_input_grad'] + out['decoder_grad'] +
                          out['hidden'] + out['loss_sparse'])
    # the dense formulation: both layers' FullyConnected, forward+backward
    xd, v = x.tostype('default'), v_t.T.copy()
    h_in = h.copy()
    for a in (v, w, c, h_in):
        a.attach_grad()

    def dense():
        with autograd.record():
            pre = mx.nd.FullyConnected(xd, v, no_bias=True,
                                       num_hidden=HIDDEN)
            y = mx.nd.FullyConnected(h_in, w, c, num_hidden=width)
        autograd.backward([pre, y], [dy, xd])
    out['dense_products'] = ms(dense, repeats)
    pred = normal(BATCH, width)
    pred.attach_grad()

    def masked_loss():              # MaskedL2Loss's operators
        with autograd.record():
            err = mx.nd.sign(xd) * pred - xd
            l = 0.5 * mx.nd.mean(err * err, axis=1)
        l.backward()
    out['loss_dense'] = ms(masked_loss, repeats)
    out['dense_step'] = out['dense_products'] + out['hidden'] + \
        out['loss_dense']
    out['encoder_dense'] = ms(lambda: mx.nd.FullyConnected(
        xd, v, no_bias=True, num_hidden=HIDDEN), repeats)
    mx.random.seed(seed)
    net = rs.AutoRec(HIDDEN, width)
    net.initialize(init.Normal(INIT_SIGMA))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': AUTOREC['lr'],
                             'wd': AUTOREC['wd']})
    out['adam_update'] = update_ms(net, trainer, BATCH, repeats)
    out['adam_update_best'] = adam_ms(net, repeats)
    out['nnz_per_step'] = nnz
    return out


def adam_ms(net, repeats):
    """Best milliseconds of bare ``adam_update`` calls on every parameter
    of ``net`` (no ``Trainer``, no Python between them)."""
    import mxnet as mx
    params = [p.data().as_nd_ndarray() for p in
              net.collect_params().values()]
    state = [(mx.nd.zeros_like(p), mx.nd.zeros_like(p), mx.nd.ones_like(p))
             for p in params]

    def update():
        for p, (mean, var, grad) in zip(params, state):
            mx.nd.adam_update(p, grad, mean, var, lr=AUTOREC['lr'],
                              wd=AUTOREC['wd'], out=p)
    return ms(update, repeats)


def autorec_part(shape, repeats, update='adam_update'):
    """One AutoRec part: per-step operators, the epoch's sum with the
    ``update`` timing (``'adam_update'``, the floor's, or
    ``'adam_update_best'``), its evaluation (every row), and the ratios to
    the floor's update."""
    from d2l_recsys.data.synthetic import SHAPES
    s = SHAPES[shape]
    width, num_rows = s['num_users'], s['num_items']    # item-based rows
    train = TRAIN_SHARE * s['num_ratings']
    test = s['num_ratings'] - train
    ops = autorec_ops(width, train / (num_rows * width), repeats)
    steps = num_rows // BATCH
    step = min(ops['sparse_step'], ops['dense_step']) + ops[update]
    # evaluation: the encoder over every row, the decoder at the held-out
    # entries, scaled from the step's timings by rows and entries
    encoder = min(ops['encoder'], ops['encoder_dense'])
    decoder_at = min(ops['decoder_chunked'] * test / ops['nnz_per_step'],
                     ops['decoder_full_take'] * num_rows / BATCH)
    floor = steps * ops['adam_update'] / 1e3
    out = dict(ops, steps=steps, step_ms=step, update=update,
               epoch_seconds=steps * step / 1e3,
               evaluate_seconds=(encoder * num_rows / BATCH +
                                 decoder_at) / 1e3,
               floor_seconds=floor, num_rows=num_rows)
    out['epoch_with_eval_seconds'] = out['epoch_seconds'] + \
        out['evaluate_seconds']
    out['ratio_to_update'] = out['epoch_seconds'] / floor
    out['ratio_with_eval'] = out['epoch_with_eval_seconds'] / floor
    return out


def autorec_ml100k(repeats):
    """The ML-100K part: the run's steps (the book's loader rolls left-over
    rows over, so 25 epochs take ``25 * rows // 256`` steps) and 25
    evaluations."""
    out = autorec_part('ml-100k', repeats, 'adam_update_best')
    out['run_steps'] = EPOCHS * out['num_rows'] // BATCH
    out['train_test_seconds'] = out['run_steps'] * out['step_ms'] / 1e3 + \
        EPOCHS * out['evaluate_seconds']
    return out


# --- NeuMF ------------------------------------------------------------------
def neumf_step_ms(batch, sparse, split, repeats, seed=0):
    """Best milliseconds of NeuMF's forward and backward on one batch, and
    of Adam's update after it, at the NCF settings and ML-20M's shape."""
    import mxnet as mx
    from mxnet import autograd
    from d2l_recsys.config import RankingConfig
    from d2l_recsys.data.synthetic import SHAPES
    s = SHAPES['ml-20m']
    cfg = RankingConfig(model='neumf', protocol='ncf')
    gmf, mlp = cfg.num_factors, cfg.mlp_factors or cfg.num_factors
    hiddens = list(cfg.nums_hiddens)
    rng = onp.random.default_rng(seed)
    p = {}
    normal = lambda *shape: mx.nd.random.normal(0, 0.01, shape)  # noqa
    stype = 'row_sparse' if sparse else 'default'
    for name, rows, dim in (('pu', s['num_users'], gmf),
                            ('qi', s['num_items'], gmf),
                            ('eu', s['num_users'], mlp),
                            ('ei', s['num_items'], mlp)):
        p[name] = normal(rows, dim)
        p[name].attach_grad(stype=stype)
    sizes = [2 * mlp, *hiddens]
    if split:
        p['w1u'], p['w1i'] = normal(sizes[1], mlp), normal(sizes[1], mlp)
    else:
        p['w1'] = normal(sizes[1], sizes[0])
    for j, (a, b) in enumerate(zip(sizes, sizes[1:])):
        if j:
            p[f'w{j + 1}'] = normal(b, a)
        p[f'b{j + 1}'] = mx.nd.zeros(b)
    p['wo'], p['bo'] = normal(1, gmf + sizes[-1]), mx.nd.zeros(1)
    for name, a in p.items():
        if name not in ('pu', 'qi', 'eu', 'ei'):
            a.attach_grad()
    users = mx.nd.array(rng.integers(0, s['num_users'], batch))
    items = mx.nd.array(rng.integers(0, s['num_items'], batch))
    labels = mx.nd.array(rng.integers(0, 2, batch))

    def look(table, ids):
        return mx.nd.Embedding(ids, p[table], input_dim=p[table].shape[0],
                               output_dim=p[table].shape[1],
                               sparse_grad=sparse)

    def forward_backward():
        with autograd.record():
            g = look('pu', users) * look('qi', items)
            eu, ei = look('eu', users), look('ei', items)
            if split:
                z = mx.nd.FullyConnected(eu, p['w1u'], p['b1'],
                                         num_hidden=sizes[1]) + \
                    mx.nd.FullyConnected(ei, p['w1i'], no_bias=True,
                                         num_hidden=sizes[1])
            else:
                z = mx.nd.FullyConnected(mx.nd.concat(eu, ei, dim=1),
                                         p['w1'], p['b1'],
                                         num_hidden=sizes[1])
            z = mx.nd.relu(z)
            for j in range(2, len(sizes)):
                z = mx.nd.relu(mx.nd.FullyConnected(
                    z, p[f'w{j}'], p[f'b{j}'], num_hidden=sizes[j]))
            score = mx.nd.FullyConnected(mx.nd.concat(g, z, dim=1), p['wo'],
                                         p['bo'], num_hidden=1)
            score = score.reshape(-1)         # log loss from the logit
            l = mx.nd.Activation(score, act_type='softrelu') - \
                score * labels
        l.backward()
    opt = mx.optimizer.Adam(learning_rate=0.001, lazy_update=True)
    updater = mx.optimizer.get_updater(opt)
    names = sorted(p)

    def update():
        for j, name in enumerate(names):
            updater(j, p[name].grad, p[name])
    fb = ms(forward_backward, repeats)
    return fb, ms(update, repeats)


def neumf_ml20m(repeats):
    """The cheapest NeuMF epoch of MXNet's operators, its variants, and
    the floor (FLOPs and bytes from floor.json, rates measured now)."""
    with open(os.path.join(RESULTS, 'floor.json')) as f:
        floor = next(m for m in json.load(f)['measurements']
                     if m['model'] == 'neumf' and m['status'] == 'ok')
    parts = floor['parts']
    examples = parts['examples']
    variants = []
    for batch in (32768, 65536, 131072):
        for sparse in (False, True):
            for split in (False, True):
                fb, update = neumf_step_ms(batch, sparse, split, repeats)
                batches = -(-examples // batch)
                variants.append(dict(
                    batch=batch, sparse_grad=sparse, split_first_layer=split,
                    forward_backward_ms=fb, update_ms=update,
                    epoch_seconds=batches * (fb + update) / 1e3))
                print(f'  neumf {variants[-1]}', file=sys.stderr, flush=True)
    batch = parts.get('batch_size', 65536)     # earlier floors: 65,536
    tower = [(batch, a, b) for a, b in parts['layers'][:-1]]
    rate = sgemm_rate(tower, repeats, 'fc')
    bw = bandwidth(1024, repeats)
    floor_seconds = parts['flops'] / (rate * 1e9) + \
        parts['bytes'] / (bw * 1e9)
    best = min(variants, key=lambda v: v['epoch_seconds'])
    return dict(variants=variants, best=best, examples=examples,
                tower_fc_gflops=rate, bandwidth_gbs=bw,
                floor_seconds=floor_seconds,
                floor_source=f"floor.json, {floor_commit()}",
                epoch_seconds=best['epoch_seconds'],
                ratio_to_floor=best['epoch_seconds'] / floor_seconds)


def floor_commit():
    with open(os.path.join(RESULTS, 'floor.json')) as f:
        d = json.load(f)
    return f"{d['commit'][:7]}, {d['date']}"


MEASURE = {'autorec-ml100k': autorec_ml100k,
           'autorec-ml10m': lambda r: autorec_part('ml-10m', r),
           'autorec-ml20m': lambda r: autorec_part('ml-20m', r),
           'neumf-ml20m': neumf_ml20m}


def part_main(argv):
    """``--part NAME``: measure one part and print it as JSON."""
    p = argparse.ArgumentParser(prog='bench_bounds.py --part')
    p.add_argument('name', choices=PARTS)
    p.add_argument('--repeats', type=int, default=5)
    a = p.parse_args(argv)
    out = MEASURE[a.name](a.repeats)
    out['omp_num_threads'] = os.environ.get('OMP_NUM_THREADS', 'default')
    print(MARK + json.dumps(out), flush=True)


# --- the parent -------------------------------------------------------------
def environment(name):
    """The environment the part's script gives MXNet."""
    from d2l_recsys.commands.train import autorec_environment
    env = dict(os.environ)
    for key in ('OMP_NUM_THREADS', 'GLIBC_TUNABLES'):
        env.pop(key, None)
    if name == 'autorec-ml100k':
        env = thread_env(1)               # bench_peers.py --threads 1
    if name.startswith('autorec'):
        env.update(autorec_environment(), **(
            {'OMP_NUM_THREADS': '1'} if name == 'autorec-ml100k' else {}))
    return env


def verdict(name, m, args):
    """The part's bound beside what it is compared with: PyTorch's time
    (``speedup``: how much faster than it MXNet's operators could be at
    best) or a floor (``ratio``: how close to it they could come); and,
    where the package's run is measured in the same bench, its time and
    ``ours_ratio``, its time over the bound."""
    if name == 'autorec-ml100k':
        peer, runs = ml100k_autorec_runs(args.data_dir, args.work,
                                         args.ours_repeats)
        torch = peer['train_test_seconds']
        best = min(r['train_test_seconds'] for r in runs)
        drop = lambda r: {k: v for k, v in r.items() if k != 'curve'}  # noqa
        return dict(torch_autorec=drop(peer), ours_runs=list(map(drop, runs)),
                    bound=m['train_test_seconds'], unit='s train+test',
                    reference=torch, reference_text=f'the PyTorch AutoRec '
                    f"({peer['library']}), {torch:.2f} s in this run",
                    speedup=torch / m['train_test_seconds'],
                    ours=best, ours_ratio=best / m['train_test_seconds'],
                    ours_speedup=torch / best)
    if name == 'neumf-ml20m':
        from bench_scale import data_for
        runs = [neumf_epoch(data_for('ml-20m', args.work), os.path.join(
            args.work, 'runs', f'bounds-ml-20m-neumf-{j}'), 2000)
            for j in range(args.ours_repeats)]
        run = min(runs, key=lambda r: r['seconds'])
        same = [v['epoch_seconds'] for v in m['variants'] if (
            v['batch'], v['sparse_grad'], v['split_first_layer']) == (
            run['batch_size'], run['sparse_grad'], run['layout'] == 'split')]
        return dict(bound=m['epoch_seconds'], unit='s an epoch',
                    reference=m['floor_seconds'],
                    reference_text=f"the floor, {m['floor_seconds']:.1f} s "
                    f"(FLOPs and bytes from {m['floor_source']})",
                    ratio=m['epoch_seconds'] / m['floor_seconds'],
                    ours_runs=runs, ours=run['seconds'],
                    ours_ratio=run['seconds'] / m['epoch_seconds'],
                    ours_layout_bound=(same or [None])[0])
    with_eval = name == 'autorec-ml20m'
    epoch = m['epoch_with_eval_seconds'] if with_eval else m['epoch_seconds']
    return dict(bound=epoch, unit='s an epoch' + (
                    ' with evaluation' if with_eval else ''),
                reference=m['floor_seconds'],
                reference_text=f"{m['steps']} steps × "
                f"{m['adam_update']:.1f} ms Adam update",
                ratio=epoch / m['floor_seconds'])


def main():
    if sys.argv[1:2] == ['--part']:
        return part_main(sys.argv[2:])
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--parts', default=','.join(PARTS))
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--data-dir', default=os.environ.get('D2L_RECSYS_DATA'),
                   help='MovieLens 100K, for the PyTorch AutoRec of the '
                   'autorec-ml100k part (default: $D2L_RECSYS_DATA)')
    p.add_argument('--work', default=os.path.join('runs', 'peers'),
                   help="bench_peers' venvs and splits, the synthetic data "
                   'and our runs (default: runs/peers)')
    p.add_argument('--ours-repeats', type=int, default=3,
                   help='runs of ours (AutoRec on ML-100K, a NeuMF epoch at '
                   "ML-20M's shape); the fastest is compared, as the sum "
                   'takes the fastest of each operator (default: 3)')
    record.add_option(p)
    args = p.parse_args()
    names = args.parts.split(',')
    unknown = sorted(set(names) - set(PARTS))
    if unknown:
        p.error(f"unknown part {', '.join(unknown)}: expected some of "
                f"{', '.join(PARTS)}")
    if 'autorec-ml100k' in names and not args.data_dir:
        p.error('the autorec-ml100k part runs the PyTorch AutoRec on '
                'MovieLens 100K: give --data-dir or set $D2L_RECSYS_DATA')
    rows = []
    for name in names:
        print(f'{name} ...', flush=True)
        try:
            out = subprocess_run(name, [
                sys.executable, os.path.abspath(__file__), '--part', name,
                '--repeats', str(args.repeats)], environment(name))
            lines = [x for x in out.splitlines() if x.startswith(MARK)]
            m = json.loads(lines[-1][len(MARK):])
            row = dict(part=name, status='ok', **m)
            row.update(verdict(name, m, args))
            at_best = f"{row['speedup']:.2f}x faster" if 'speedup' in row \
                else f"{row['ratio']:.2f}x"
            print(f"  at best {row['bound']:.2f} {row['unit']}: {at_best} "
                  f"against {row['reference_text']}", flush=True)
            if 'ours' in row:
                print(f"  ours {row['ours']:.2f} s: {row['ours_ratio']:.2f}x "
                      'the bound', flush=True)
        except (RuntimeError, IndexError, ValueError, KeyError, OSError,
                StopIteration) as e:
            row = dict(part=name, status='failed', error=str(e))
            print(f'  failed: {e}', flush=True)
        rows.append(row)
    record.write(args.json, 'bench_bounds', rows)


if __name__ == '__main__':
    main()
