"""d2l_recsys: the recommender-systems chapters of Dive into Deep Learning
(matrix factorization, AutoRec, NeuMF, Caser, FM and DeepFM) in
MXNet/Gluon, faithful and fast.

Use it as the book uses ``d2l``::

    import d2l_recsys as rs
    data, num_users, num_items = rs.read_data_ml100k(data_dir)

or as a library, on your own data (original ids of any type)::

    p = rs.fit('mf', df)            # columns user, item, rating[, timestamp]
    p.recommend('alice', k=10)

This module only re-exports; each name lives in the module of its layer:
``data`` -> ``models`` / ``losses`` / ``metrics`` -> ``registry`` (one
entry per model) -> ``train`` (the loop), ``evaluation`` / ``ranking`` ->
``runs`` (whole runs) -> ``serving`` (predictions of saved models).
"""
from mxnet import npx

npx.set_np()  # the book's numpy interface, as every chapter begins

from .data import (ArrayIter, NegativeSamplingIter, PRDataset,  # noqa
                   rating_iters,
                   interaction_mask, interaction_matrix, load_data_ml100k,
                   read_data_ml100k, read_item_titles, read_ratings,
                   read_table,
                   read_train_test, resolve_ratings_file, sample_negatives,
                   sample_test_negatives, split_and_load_ml100k,
                   split_data_ml100k)
from . import defaults  # noqa: E402,F401
from .devices import parse_devices, split_shards, try_all_gpus  # noqa: E402
from .evaluation import evaluate_autorec, evaluate_rmse  # noqa: E402
from .run_folder import load_model, save_model  # noqa: E402
from .losses import (BPRLoss, HingeLossbRec, MaskedL2Loss,  # noqa: E402
                     ObservedL2Loss, PointwiseBCELoss)
from .metrics import (auc_from_ranks, book_running_rmse,  # noqa: E402
                      full_ranking_metrics, hit_rate, ndcg, rank_among, rmse)
from .models import (GMF, MF, MLP, AutoRec, Caser, DeepFM, FM,  # noqa
                     ItemPop, LR, NeuMF, load_pretrained)
from .data.sequences import SeqDataset  # noqa: E402,F401
from .data.ctr import CTRDataset  # noqa: E402,F401
from .data.hub import (DATA_HUB, DATA_URL, download_extract,  # noqa: E402
                       get_dataloader_workers)
from .ranking import (RankingEvaluator, evaluate_ranking,  # noqa: E402
                      ranking_protocol, score_matrix)
from . import registry  # noqa: E402,F401

# The training side (the loop, whole runs) loads on first use, so that a
# process that only serves saved models never imports it.
_TRAINING = {'Callback': 'train', 'train_ranking': 'train',
             'train_ch13': 'ctr_loop', 'evaluate_ctr': 'ctr_loop',
             'train_recsys_rating': 'train', 'fit': 'library',
             'reevaluate': 'runs', 'run': 'runs', 'run_autorec': 'runs',
             'run_mf': 'runs', 'run_ranking': 'runs'}


def __getattr__(name):
    if name in _TRAINING:
        import importlib
        module = importlib.import_module(f'.{_TRAINING[name]}', __name__)
        return getattr(module, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(list(globals()) + list(_TRAINING))

from .version import __version__  # noqa: E402,F401
