"""d2l_recsys: the recommender-systems chapters of Dive into Deep Learning
(matrix factorization, AutoRec) in MXNet/Gluon, faithful and fast.

Use it as the book uses ``d2l``::

    import d2l_recsys as rs
    data, num_users, num_items = rs.read_data_ml100k(data_dir)
"""
from mxnet import npx

npx.set_np()  # the book's numpy interface, as every chapter begins

from .data import (ArrayIter, interaction_matrix, load_data_ml100k,  # noqa
                   read_data_ml100k, read_item_titles, read_ratings,
                   read_train_test, resolve_ratings_file, split_and_load_ml100k,
                   split_data_ml100k)
from .metrics import book_running_rmse, rmse  # noqa: E402
from .models import MF, AutoRec, MaskedL2Loss  # noqa: E402
from .train import (evaluate_autorec, evaluate_rmse, load_model,  # noqa
                    parse_devices, save_model, train_recsys_rating,
                    try_all_gpus)

__version__ = '0.1.0'
