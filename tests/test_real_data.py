"""Checks on the real MovieLens 100K, read through D2L_RECSYS_DATA as a user
would give it; skipped (with the reason) when it is not set."""
import numpy as onp

import d2l_recsys as rs
from d2l_recsys.runs import run_autorec, run_mf


def test_real_seq_aware_split_identical_to_d2l(real_data_dir, monkeypatch):
    from d2l import mxnet as d2l
    monkeypatch.setattr(d2l, 'download_extract',
                        lambda name, folder=None: real_data_dir)
    data, nu, ni = rs.read_data_ml100k()
    assert (nu, ni, len(data)) == (943, 1682, 100000)
    ref = d2l.split_data_ml100k(data, nu, ni, 'seq-aware')
    ours = rs.split_data_ml100k(data, nu, ni, 'seq-aware')
    for a, b in zip(ref, ours):
        assert onp.array_equal(a.to_numpy(), b.to_numpy())


def test_real_autorec_book_defaults(real_data_dir):
    res = run_autorec(verbose=False)
    assert res['test_rmse'] <= 0.905   # the book prints 0.898


def test_real_mf_book_defaults(real_data_dir):
    res = run_mf(verbose=False)
    assert res['test_rmse'] <= 1.07    # the book prints 1.061
