#!/usr/bin/env python
"""One AutoRec training step (forward, loss, backward, Adam update) on a
batch of 256 rows with uniformly random observed entries: the book's dense
formulation (hybridized, ``MaskedL2Loss``) against the observed-entries one
(CSR rows, ``ObservedL2Loss``).

The default is ML-100K's row (943 users, 5.7% observed).  Lists of widths
and densities give the sweep behind ``data.rows.choose_formulation``:

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
from d2l_recsys.models.autorec import ObservedL2Loss


def step_ms(width, density, sparse, repeats):
    """Median milliseconds of a training step, alternating two batches."""
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
    return float(onp.median(times[2:])) * 1e3


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--widths', default='943')
    p.add_argument('--densities', default='0.057')
    p.add_argument('--repeats', type=int, default=10)
    args = p.parse_args()
    print(f"{'width':>7s} {'density':>8s} {'dense ms':>9s} {'sparse ms':>10s}"
          f" {'dense/sparse':>13s}")
    for width in map(int, args.widths.split(',')):
        for density in map(float, args.densities.split(',')):
            dense, sparse = [step_ms(width, density, s, args.repeats)
                             for s in (False, True)]
            print(f'{width:7d} {density:8.3f} {dense:9.1f} {sparse:10.1f} '
                  f'{dense / sparse:13.2f}', flush=True)


if __name__ == '__main__':
    main()
