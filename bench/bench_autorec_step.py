#!/usr/bin/env python
"""One AutoRec training step (forward, masked loss, backward) on a batch of
256 item rows of ML-100K's size (943 users, ~5.7% observed): the book's dense
formulation (hybridized) against the observed-entries-only one.

    python bench/bench_autorec_step.py
"""
import time

import numpy as onp
from mxnet import autograd, init, np

import d2l_recsys as rs
from d2l_recsys.defaults import AUTOREC, INIT_SIGMA


def step_ms(net, x, repeats=30):
    loss = rs.MaskedL2Loss()
    for i in range(repeats + 3):
        if i == 3:
            start = time.perf_counter()
        with autograd.record():
            l = loss(net(x), x)
        l.backward()
        for p in net.collect_params().values():
            p.grad().wait_to_read()
    return (time.perf_counter() - start) / repeats * 1e3


def main():
    rng = onp.random.default_rng(0)
    shape = (AUTOREC['batch_size'], 943)
    mat = (rng.random(shape) < 0.057) * rng.integers(1, 6, shape)
    x = np.array(mat.astype('float32'))
    for sparse in (False, True):
        net = rs.AutoRec(AUTOREC['num_hiddens'], 943, sparse=sparse)
        net.initialize(init.Normal(INIT_SIGMA))
        if not sparse:
            net.hybridize()
        name = 'sparse (observed only)' if sparse else 'dense (book)'
        print(f'{name:24s} {step_ms(net, x):6.1f} ms per step')


if __name__ == '__main__':
    main()
