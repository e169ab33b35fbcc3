"""Rating prediction: explicit ratings, L2 loss, test RMSE.

``PairsTask`` trains on ``(user, item, rating)`` batches (MF);
``RowsTask`` on rows of the rating matrix, dense or CSR (AutoRec).
"""
import os

from mxnet import gluon

from ..data import autorec_iters, rating_iters
from ..data.rows import choose_formulation
from ..evaluation import evaluate_autorec, evaluate_rmse, predict_ratings
from ..losses import MaskedL2Loss, ObservedL2Loss
from ..metrics import book_running_rmse
from ..scorers import AutoRecScorer, DotScorer, PairScorer
from .base import Setup, Task, pairs_loss


def data_facts(data):
    """What a rating run's results record about its data: sizes and the
    rating scale read from it."""
    facts = dict(num_users=data.num_users, num_items=data.num_items,
                 num_train=len(data.train), rating_scale=data.rating_scale)
    if data.test is not None:
        facts['num_test'] = len(data.test)
    if data.valid is not None:
        facts['num_valid'] = len(data.valid)
    return facts


class RatingTask(Task):
    """What both rating tasks share: the data check, RMSE as the metric
    and the start at the training mean."""
    kind = 'rating'

    def iterators(self, cfg, data, shard):
        """``(train_iter, valid_iter, test_iter, loss, evaluate, extra)``
        of the task's batches."""
        raise NotImplementedError

    def title(self, entry, cfg):
        return entry.title

    def setup(self, entry, cfg, data, shard=None, training=True,
              pretrained=None):
        if data.implicit:
            raise ValueError(
                f'{data.spec.describe()}: {entry.title} predicts ratings and '
                'the data has none (no rating column); map one with '
                '--columns rating=NAME, or train a ranking model')
        train_iter, valid_iter, test_iter, loss, evaluate, extra = \
            self.iterators(cfg, data, shard)
        mean = float(data.train.iloc[:, 2].to_numpy().mean()) \
            if cfg.bias_init == 'mean' else None

        def prepare(net, devices, verbose):
            if mean is not None:     # where the output biases start
                net.start_at_mean(mean)
            return {}

        def scorer(it, key):
            return None if it is None else \
                lambda net, devices: {key: evaluate(net, it, devices)}
        return Setup(
            train_iter, loss, lambda net: pairs_loss(net, loss),
            scorer(test_iter, 'test_rmse'), scorer(valid_iter, 'valid_rmse'),
            (data.num_users, data.num_items), data_facts(data),
            ('test_rmse', 'valid_rmse'), self.title(entry, cfg),
            ('train_loss',) + (() if test_iter is None else ('test_rmse',)),
            extra=extra, prepare=prepare)

    def main_metric(self, cfg):
        return 'test_rmse'

    def monitor(self, cfg):
        return 'valid_rmse', 'min'

    def objective(self, options):
        return 'valid_rmse', True

    def reevaluated(self, metrics):
        return metrics['test_rmse']

    def summary(self, results):
        if 'folds' in results:
            return (f"test RMSE {results['test_rmse']:.4f} ± "
                    f"{results['test_rmse_std']:.4f} over "
                    f"{len(results['folds'])} folds")
        best = f" (best epoch {results['best_epoch']} of " \
            f"{results['epochs_run']})" if 'best_epoch' in results else ''
        return f"test RMSE {results['test_rmse']:.4f}{best}"


class PairsTask(RatingTask):
    """``(user, item, rating)`` batches (MF); scored as dot products when
    the block has ``dot_factors``, else pair by pair."""

    def iterators(self, cfg, data, shard):
        train_iter, test_iter = rating_iters(data.train, data.test,
                                               cfg.batch_size, cfg.seed,
                                               shard=shard)
        valid_iter = None if data.valid is None else \
            rating_iters(data.train, data.valid, cfg.batch_size)[1]

        def extra(net, devices):
            out = dict(sparse_grad=bool(net.config.get('sparse_grad')))
            if test_iter is not None:
                # the figure the book prints: a mean of per-batch RMSEs
                shards = predict_ratings(net, test_iter, devices[:1])[2]
                out = dict(test_rmse_book_running_avg=book_running_rmse(
                    shards), **out)
            return out
        return (train_iter, valid_iter, test_iter, gluon.loss.L2Loss(),
                evaluate_rmse, extra)

    def scorer(self, net, train, run, cache_bytes, state):
        if hasattr(net, 'dot_factors'):
            return DotScorer.from_net(net)
        return PairScorer(net, train.num_items)


class RowsTask(RatingTask):
    """Rows of the rating matrix (AutoRec): item rows (the book's
    item-based model) or user rows (``variant='user'``)."""

    def iterators(self, cfg, data, shard):
        num_rows, width = (data.num_users, data.num_items) if \
            cfg.variant == 'user' else (data.num_items, data.num_users)
        formulation = choose_formulation(num_rows, width, len(data.train),
                                         cfg.formulation)
        _, train_iter, test_iter = autorec_iters(
            data.train, data.test, data.num_users, data.num_items,
            cfg.variant, cfg.batch_size, cfg.seed, formulation, shard)
        valid_iter = None if data.valid is None else autorec_iters(
            data.train, data.valid, data.num_users, data.num_items,
            cfg.variant, formulation=formulation)[2]
        loss = ObservedL2Loss() if formulation == 'sparse' else \
            MaskedL2Loss()
        return (train_iter, valid_iter, test_iter, loss, evaluate_autorec,
                lambda net, devices: dict(formulation=formulation))

    def title(self, entry, cfg):
        return f'{entry.title} ({cfg.variant}-based)'

    def sizes(self, options, num_users, num_items):
        item_based = options.get('variant', 'item') == 'item'
        return {'num_users': num_users if item_based else num_items}

    def scorer(self, net, train, run, cache_bytes, state):
        return AutoRecScorer(net, train, run.get('variant', 'item'),
                             cache_bytes)

    def example(self, net):
        from mxnet import np
        return (np.zeros((1, net.config['num_users'])),)

    def inputs_meaning(self, net):
        return {'data': 'rows of the training rating matrix (items x users '
                        'for the item-based AutoRec, users x items for the '
                        'user-based)'}

    def environment(self):
        """OpenMP on every core (AutoRec's large matrix products use them
        well, while MF's and NeuMF's small operators get slower with more
        threads) and glibc's huge pages for its large fresh arrays (see
        ``scripts/train_autorec.py``)."""
        cores = len(os.sched_getaffinity(0)) \
            if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
        return dict(OMP_NUM_THREADS=str(cores),
                    GLIBC_TUNABLES='glibc.malloc.hugetlb=1')
