"""Ranking with implicit feedback (GMF, MLP, NeuMF, dot-product MF,
ItemPop): a held-out protocol, sampled negatives, HR / NDCG / AUC."""
from ..data import NegativeSamplingIter, rating_arrays
from ..defaults import PROTOCOL_DEFAULTS, RANKING
from ..losses import LOSSES
from ..ranking import protocol_evaluator
from ..scorers import DotScorer, PairScorer
from .base import Setup, Task

ALPHA_GRID = [round(0.05 * j, 2) for j in range(21)]
"""The values ``alpha='auto'`` tries: 0 (the MLP alone) to 1 (GMF)."""


def evaluator(cfg, data, validation=False, ties='pessimistic'):
    """The test (or validation) evaluator of a ranking config on
    ``data``; None for the test of data without a test part.  ``ties``:
    the test's rule for tied scores (``metrics.full_ranking_metrics``)."""
    if not validation and data.test is None:
        return None
    return protocol_evaluator(
        data, cfg.protocol, cfg.num_test_negatives, cfg.top_k,
        cfg.book_item_range, cfg.seed, ties=ties, eval_users=cfg.eval_users,
        validation=validation)


def _prefixed(evaluate):
    """A validation evaluator whose metrics are keyed ``valid_...``."""
    if evaluate is None:
        return None
    return lambda net, devices: {f'valid_{k}': v for k, v in
                                 evaluate(net, devices).items()
                                 if isinstance(v, float)}


def choose_alpha(entry, net, pretrained, valid, devices, k):
    """The weight of the GMF part that scores best on the validation data
    before fine-tuning: every value of ``ALPHA_GRID`` is loaded into the
    pretrained NeuMF and ranked by validation NDCG@K (finer than HR@K on
    a few thousand users; ties go to the smaller value).  Returns
    ``{alpha, grid, valid_ndcg@K}``: the choice, the values tried and
    their scores."""
    scores = []
    for a in ALPHA_GRID:
        entry.pretrain(net, *pretrained, a)
        scores.append(float(valid(net, devices)[f'ndcg@{k}']))
    best = max(range(len(scores)), key=lambda j: (scores[j], -j))
    return {'alpha': ALPHA_GRID[best], 'grid': ALPHA_GRID,
            f'valid_ndcg@{k}': scores}


class RankingTask(Task):
    """Implicit feedback under the NCF or the book's protocol."""
    kind = 'ranking'
    script = 'train_neumf.py'

    def _train_iter(self, cfg, data, loss, shard):
        users, items, _ = rating_arrays(data.train)
        rank, workers = shard or (0, None)
        return NegativeSamplingIter(
            users, items, data.num_users, data.num_items, cfg.num_negatives,
            pairwise=loss.pairwise, batch_size=cfg.batch_size,
            seed=cfg.seed, rank=rank, num_workers=workers)

    def setup(self, entry, cfg, data, shard=None, training=True,
              pretrained=None, ties='pessimistic'):
        """``ties``: the test evaluator's rule for tied scores (a run's is
        the pessimistic one; ``runs.reevaluate`` may score with d2l's
        ``'index'`` order)."""
        k = cfg.top_k
        test = evaluator(cfg, data, ties=ties)
        raw_valid = None if data.valid is None else \
            evaluator(cfg, data, validation=True)
        scored = test or raw_valid        # what the history's metrics are of
        sigmoid_bce = cfg.loss == 'bce' and \
            cfg.output_activation == 'sigmoid'
        loss = LOSSES[cfg.loss](
            **({'from_sigmoid': True} if sigmoid_bce else {}))
        def counted(net, devices):
            entry.from_counts(net, rating_arrays(data.train_all)[1])
            first = dict(epoch=0, train_loss=None,
                         **(test(net, devices) if test else {}))
            if raw_valid is not None:
                first.update(_prefixed(raw_valid)(net, devices))
            return [first]
        train_iter = self._train_iter(cfg, data, loss, shard) \
            if training and not entry.from_counts else None

        def prepare(net, devices, verbose):
            if not pretrained:
                return {}
            alpha = choose_alpha(entry, net, pretrained, raw_valid, devices,
                                 k) if cfg.alpha == 'auto' else \
                dict(alpha=cfg.alpha)
            if verbose and cfg.alpha == 'auto':
                print(f"alpha {alpha['alpha']:g}: the best validation "
                      f"NDCG@{k} ({max(alpha[f'valid_ndcg@{k}']):.4f}) of "
                      f"{', '.join(f'{a:g}' for a in ALPHA_GRID[:3])}, ..., "
                      '1', flush=True)
            entry.pretrain(net, *pretrained, alpha['alpha'])
            return {'pretrained': alpha}

        def extra(net, devices):
            return dict(eval_users=len(scored.users),
                        sparse_grad=bool(getattr(net, 'config', {}).get(
                            'sparse_grad')))
        facts = dict(num_users=data.num_users, num_items=data.num_items,
                     num_train=len(data.train_all))
        if data.test is not None:
            facts['num_test'] = len(data.test)
        pairwise = getattr(loss, 'pairwise', False)
        return Setup(
            train_iter, loss,
            lambda net: (lambda s: loss(net(s[0], s[1]), net(s[0], s[2])))
            if pairwise else (lambda s: loss(net(s[0], s[1]), s[2])),
            test, _prefixed(raw_valid), (data.num_users, data.num_items),
            facts, (f'hit_rate@{k}', f'ndcg@{k}', 'auc', 'full_ranking',
                    f'valid_hit_rate@{k}', f'valid_ndcg@{k}'),
            f'{entry.title}, {cfg.protocol} protocol',
            ('train_loss',) if test is None else
            ('train_loss', f'hit_rate@{k}', f'ndcg@{k}', 'auc'),
            extra=extra, prepare=prepare,
            counted=counted if entry.from_counts else None,
            optimizer=cfg.optimizer)

    def main_metric(self, cfg):
        return f'hit_rate@{cfg.top_k}'

    def monitor(self, cfg):
        return f'valid_hit_rate@{cfg.top_k}', 'max'

    def objective(self, options):
        protocol = options.get('protocol') or RANKING['protocol']
        k = options.get('top_k') or PROTOCOL_DEFAULTS[protocol]['top_k']
        return f'valid_hit_rate@{k}', False

    def summary(self, res):
        k = res['config']['top_k']
        if 'folds' in res:
            return (f"HR@{k} {res[f'hit_rate@{k}']:.4f} ± "
                    f"{res[f'hit_rate@{k}_std']:.4f} over "
                    f"{len(res['folds'])} folds")
        full = res['full_ranking']
        return (f"HR@{k} {res[f'hit_rate@{k}']:.4f}  NDCG@{k} "
                f"{res[f'ndcg@{k}']:.4f}  AUC {res['auc']:.4f}  (full "
                f"ranking: HR@10 {full['hit_rate@10']:.4f}, NDCG@10 "
                f"{full['ndcg@10']:.4f}, Recall@10 "
                f"{full['recall@10']:.4f})")

    def scorer(self, net, train, run, cache_bytes, state):
        if hasattr(net, 'dot_factors'):
            return DotScorer.from_net(net)
        return PairScorer(net, train.num_items)
