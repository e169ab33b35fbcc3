"""d2l_recsys: the recommender-systems chapters of Dive into Deep Learning
(matrix factorization, AutoRec, NeuMF) in MXNet/Gluon, faithful and fast.

Use it as the book uses ``d2l``::

    import d2l_recsys as rs
    data, num_users, num_items = rs.read_data_ml100k(data_dir)
"""
from mxnet import npx

npx.set_np()  # the book's numpy interface, as every chapter begins

from .data import (ArrayIter, NegativeSamplingIter, rating_iters,  # noqa
                   interaction_mask, interaction_matrix, load_data_ml100k,
                   read_data_ml100k, read_item_titles, read_ratings,
                   read_train_test, resolve_ratings_file, sample_negatives,
                   sample_test_negatives, split_and_load_ml100k,
                   split_data_ml100k)
from .losses import BPRLoss, HingeLossbRec, PointwiseBCELoss  # noqa: E402
from .metrics import (auc_from_ranks, book_running_rmse,  # noqa: E402
                      full_ranking_metrics, hit_rate, ndcg, rank_among, rmse)
from .models import (GMF, MF, MLP, AutoRec, ItemPop,  # noqa: E402
                     MaskedL2Loss, NeuMF, load_pretrained)
from .ranking import (RankingEvaluator, evaluate_ranking,  # noqa: E402
                      recommend, score_matrix)
from .train import (evaluate_autorec, evaluate_rmse, load_model,  # noqa
                    parse_devices, save_model, train_ranking,
                    train_recsys_rating, try_all_gpus)

__version__ = '0.1.0'
