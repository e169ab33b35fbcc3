"""Sequence-aware ranking (Caser): windows of a user's latest items, BPR
with one sampled negative, scored with the user's latest ``L`` items under
the NCF or the book's protocol."""
import mxnet as mx
import numpy as onp

from ..data.interactions import rating_arrays
from ..data.sequences import SequenceIter, latest_items
from ..losses import LOSSES
from ..models.caser import SequenceScorer
from ..ranking import score_pairs, score_users
from .base import Setup
from .ranking import RankingTask, evaluator


def _order(frame):
    """The time of each interaction (None: the frame's order)."""
    return frame.iloc[:, 3].to_numpy() if frame.shape[1] > 3 else None


def _latest(frame, L, num_users):
    users, items, _ = rating_arrays(frame)
    return latest_items(users, items, _order(frame), L, num_users)


class _Scorer:
    """The predictor's scorer of a Caser: each user with its latest
    items, or with the items a caller gives (``rows(users, recent)``)."""

    def __init__(self, net, latest, num_items):
        self.net = SequenceScorer(net, latest)
        self.num_items = num_items
        self.sequence_length = net.config['L']   # items a sequence holds

    def rows(self, users, recent=None):
        """(len(users), num_items) scores; with ``recent`` (item indices,
        oldest first, at least L) every user reads its latest L instead of
        the user's own latest items."""
        if recent is None:
            return score_users(self.net, users, self.num_items, [mx.cpu()])
        from mxnet import np
        seqs = onp.tile(onp.asarray(recent)[-self.sequence_length:],
                        (len(users), 1))
        return self.net.net.score_block(
            np.array(users, dtype='int32'),
            np.arange(self.num_items, dtype='int32'), seqs).asnumpy()

    def pairs(self, users, items):
        return score_pairs(self.net, users, items, [mx.cpu()])


class SequenceTask(RankingTask):
    """Caser's task: a ranking task whose model reads each user's latest
    ``L`` items (``data.sequences``)."""
    kind = 'sequence'
    script = None

    def setup(self, entry, cfg, data, shard=None, training=True,
              pretrained=None):
        k = cfg.top_k
        test = evaluator(cfg, data)
        valid = None if data.valid is None else \
            evaluator(cfg, data, validation=True)
        latest_all = _latest(data.train_all, cfg.L, data.num_users)
        latest_fit = _latest(data.train, cfg.L, data.num_users)

        def bound(evaluate, latest, prefix=''):
            if evaluate is None:
                return None
            return lambda net, devices: {
                prefix + key: value for key, value in
                evaluate(SequenceScorer(net, latest), devices).items()
                if not prefix or isinstance(value, float)}
        loss = LOSSES[cfg.loss]()
        train_iter = None
        if training:
            users, items, _ = rating_arrays(data.train)
            rank, workers = shard or (0, None)
            train_iter = SequenceIter(
                users, items, _order(data.train), cfg.L, data.num_users,
                data.num_items, cfg.batch_size, cfg.seed, rank=rank,
                num_workers=workers)
        facts = dict(num_users=data.num_users, num_items=data.num_items,
                     num_train=len(data.train_all),
                     num_windows=train_iter.num_examples if train_iter
                     else None)
        if data.test is not None:
            facts['num_test'] = len(data.test)
        scored = test or valid
        def shard_loss(net):       # one pass scores both items of a row
            pairs = net.pairs()
            pairs.hybridize()
            return lambda s: loss(*pairs(*s))
        return Setup(
            train_iter, loss, shard_loss,
            bound(test, latest_all), bound(valid, latest_fit, 'valid_'),
            (data.num_users, data.num_items), facts,
            (f'hit_rate@{k}', f'ndcg@{k}', 'auc', 'full_ranking',
             f'valid_hit_rate@{k}', f'valid_ndcg@{k}'),
            f'{entry.title}, {cfg.protocol} protocol',
            ('train_loss',) if test is None else
            ('train_loss', f'hit_rate@{k}', f'ndcg@{k}', 'auc'),
            extra=lambda net, devices: dict(eval_users=len(scored.users)))

    def objective(self, options):
        from ..defaults import CASER
        return f"valid_hit_rate@{options.get('top_k') or CASER['top_k']}", \
            False

    def serving_state(self, cfg, data):
        return {'latest': _latest(data.train, cfg.L, data.num_users)}

    def scorer(self, net, train, run, cache_bytes, state):
        return _Scorer(net, state['latest'], train.num_items)

    def example(self, net):
        from mxnet import np
        return (np.zeros(1, dtype='int32'),
                np.zeros((1, net.config['L']), dtype='int32'),
                np.zeros(1, dtype='int32'))

    def inputs_meaning(self, net):
        return {'data0': 'user indices (0-based, ids.json user_ids)',
                'data1': "each user's latest L item indices, oldest first "
                         '(interactions.npz state_latest)',
                'data2': 'item indices (0-based, ids.json item_ids)'}
