#!/usr/bin/env python
"""One AutoRec training step (forward, loss, backward, Adam update) on a
batch of 256 rows with uniformly random observed entries: the book's dense
formulation (hybridized, ``MaskedL2Loss``) against the observed-entries one
(CSR rows, ``ObservedL2Loss``).

The default is ML-100K's row (943 users, 5.7% observed).  Lists of widths
and densities give the sweep behind ``data.rows.choose_formulation``.

``update ms`` is Adam's update of the full weights alone (fresh gradients,
no forward or backward): a step that keeps the book's optimizer cannot be
faster, so ``dense/update`` bounds how much faster than a dense step any
sparse step can be.  At ML-10M's shape (``--widths 69878 --densities
0.013``) it is what rules out a 10x faster sparse epoch.

    python bench/bench_autorec_step.py
    python bench/bench_autorec_step.py --widths 943,6040,20000,69878 \\
        --densities 0.005,0.01,0.02,0.04,0.08
"""
import argparse
import time

import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon, init, np

import d2l_recsys as rs
from d2l_recsys.defaults import AUTOREC, INIT_SIGMA
from d2l_recsys.losses import ObservedL2Loss

import record


def update_ms(net, trainer, batch_size, repeats):
    """Median milliseconds of the trainer's update alone, with fresh (zero)
    gradients of every parameter."""
    params = list(net.collect_params().values())
    times = []
    for _ in range(repeats):
        with autograd.record():
            zero = sum((p.data() * 0).sum() for p in params)
        zero.backward()
        mx.nd.waitall()
        start = time.perf_counter()
        trainer.step(batch_size)
        mx.nd.waitall()
        times.append(time.perf_counter() - start)
    return float(onp.median(times)) * 1e3


def step_ms(width, density, sparse, repeats):
    """Median milliseconds of a training step, alternating two batches, and
    of the update alone (see ``update_ms``)."""
    rng = onp.random.default_rng(0)
    shape = (AUTOREC['batch_size'], width)
    batches = []
    for _ in range(2):
        mat = ((rng.random(shape) < density) *
               rng.integers(1, 6, shape)).astype('float32')
        batches.append(mx.nd.array(mat).tostype('csr') if sparse
                       else np.array(mat))
    mx.random.seed(0)
    net = rs.AutoRec(AUTOREC['num_hiddens'], width)
    net.initialize(init.Normal(INIT_SIGMA))
    loss = ObservedL2Loss() if sparse else rs.MaskedL2Loss()
    net.hybridize()
    loss.hybridize()
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': AUTOREC['lr']})
    times = []
    for i in range(repeats + 2):            # two warm-up steps
        x = batches[i % 2]
        start = time.perf_counter()
        with autograd.record():
            l = loss(net(x), x)
        l.backward()
        trainer.step(shape[0])
        l.sum().asnumpy()
        times.append(time.perf_counter() - start)
    return float(onp.median(times[2:])) * 1e3, \
        update_ms(net, trainer, shape[0], repeats)


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--widths', default='943')
    p.add_argument('--densities', default='0.057')
    p.add_argument('--repeats', type=int, default=10)
    record.add_option(p)
    args = p.parse_args()
    rows = []
    print(f"{'width':>7s} {'density':>8s} {'dense ms':>9s} {'sparse ms':>10s}"
          f" {'dense/sparse':>13s} {'update ms':>10s} {'dense/update':>13s}")
    for width in map(int, args.widths.split(',')):
        for density in map(float, args.densities.split(',')):
            (dense, _), (sparse, update) = [
                step_ms(width, density, s, args.repeats) for s in (False, True)]
            print(f'{width:7d} {density:8.3f} {dense:9.1f} {sparse:10.1f} '
                  f'{dense / sparse:13.2f} {update:10.1f} '
                  f'{dense / update:13.2f}', flush=True)
            rows.append(dict(width=width, density=density, dense_ms=dense,
                             sparse_ms=sparse, dense_per_sparse=dense / sparse,
                             update_ms=update, dense_per_update=dense / update))
    record.write(args.json, 'bench_autorec_step', rows)


if __name__ == '__main__':
    main()
