#!/usr/bin/env python
"""Surprise's SVD on a train/test file pair: the peer of the project's MF
in ``bench/bench_peers.py``.

It runs in a virtual environment of its own (the bench makes it, with
``scikit-surprise``), so it imports nothing of ``d2l_recsys``.  The model
is Surprise's ``SVD`` with its defaults (biased, SGD with ``lr_all=0.005``,
``reg_all=0.02``, ``init_std_dev=0.1``, 20 epochs, one thread) except
``n_factors=30``, the book's MF.  ``SVD.test`` clips predictions to the
rating scale (Surprise's default); the unclipped RMSE is computed too,
outside the clock, since the project's MF does not clip.

``SVD`` has no per-epoch hook: ``--epochs 1,2,5`` fits once per count and
times each fit (fit + test) on its own.  Every fit starts from the same
seeded factors and SGD visits the ratings in a fixed order, so the fit of
``k`` epochs is the first ``k`` epochs of a longer one.

    python surprise_svd.py --train train.tsv --test test.tsv \\
        --rating-scale 1,5 --epochs 20 --out svd.json

Files: tab-separated ``user item rating timestamp`` (ML-100K's ``u.data``)
or, for ``.csv``, comma-separated with a header line.  Prints the result as
JSON (``common.emit``; also to ``--out``); progress goes to stderr.
"""
import argparse
import math
import time

import surprise
from surprise import SVD, Dataset, Reader
from surprise.model_selection import PredefinedKFold

from common import emit, log


def read_split(train, test, rating_scale):
    """Surprise's trainset and testset of a file pair."""
    csv = train.endswith('.csv')
    reader = Reader(line_format='user item rating timestamp',
                    sep=',' if csv else '\t', rating_scale=rating_scale,
                    skip_lines=1 if csv else 0)
    data = Dataset.load_from_folds([(train, test)], reader)
    return next(PredefinedKFold().split(data))


def rmse(pairs):
    """RMSE of ``(truth, estimate)`` pairs."""
    return math.sqrt(sum((t - e) ** 2 for t, e in pairs) / len(pairs))


def fit_once(trainset, testset, epochs, factors, seed):
    """Fit and test one SVD of ``epochs`` epochs; the seconds of each."""
    start = time.perf_counter()
    algo = SVD(n_factors=factors, n_epochs=epochs, random_state=seed)
    algo.fit(trainset)
    fitted = time.perf_counter()
    predictions = algo.test(testset)
    score = surprise.accuracy.rmse(predictions, verbose=False)
    done = time.perf_counter()
    unclipped = rmse([(r, algo.predict(u, i, clip=False).est)
                      for u, i, r in testset])
    impossible = sum(p.details.get('was_impossible', False)
                     for p in predictions)
    return dict(epochs=epochs, seconds=done - start,
                fit_seconds=fitted - start, test_seconds=done - fitted,
                test_rmse=score, test_rmse_unclipped=unclipped,
                num_impossible=impossible)


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--train', required=True)
    p.add_argument('--test', required=True)
    p.add_argument('--rating-scale', required=True, metavar='LOW,HIGH')
    p.add_argument('--epochs', default='20',
                   help='epoch counts, comma-separated: one fit each')
    p.add_argument('--factors', type=int, default=30)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', help='also write the JSON there')
    args = p.parse_args()
    low, high = (float(x) for x in args.rating_scale.split(','))
    start = time.perf_counter()
    trainset, testset = read_split(args.train, args.test, (low, high))
    data_seconds = time.perf_counter() - start
    log(f'surprise {surprise.__version__}: {trainset.n_ratings} train, '
        f'{len(testset)} test ratings read in {data_seconds:.1f} s')
    fits = []
    for epochs in (int(e) for e in args.epochs.split(',')):
        fits.append(fit_once(trainset, testset, epochs, args.factors,
                             args.seed))
        f = fits[-1]
        log(f"SVD, {epochs} epochs: test RMSE {f['test_rmse']:.4f} "
            f"(unclipped {f['test_rmse_unclipped']:.4f})  "
            f"({f['seconds']:.2f} s)")
    last = fits[-1]
    result = dict(
        program='surprise_svd', library=f'scikit-surprise '
        f'{surprise.__version__}', factors=args.factors,
        num_users=trainset.n_users, num_items=trainset.n_items,
        num_train=trainset.n_ratings, num_test=len(testset),
        data_seconds=data_seconds, train_test_seconds=last['seconds'],
        test_rmse=last['test_rmse'], epochs=last['epochs'], fits=fits,
        note='one fit per epoch count (no per-epoch hook); predictions '
             'clipped to the rating scale, as SVD.test does')
    emit(result, args.out)


if __name__ == '__main__':
    main()
