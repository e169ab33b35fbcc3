"""Click prediction on categorical feature fields (FM, DeepFM, logistic
regression): batches ``(x, y)`` of offset indices and 0/1 clicks, the
logistic loss, and the AUC, log loss and accuracy at 0.5 of the outputs.

The fields come from ratings (``user``, ``item``, then MovieLens 100K's
user and movie attributes, ``data.attributes``, or the columns of one's
own ratings file named by ``--features``; a rating of ``label_threshold``
stars or more is a click) or from the book's CTR files (``ctr_dir``).  Each field's values are indexed by the training part only
(``data.ctr.encode_fields``): a value seen only in validation or test
data takes the field's default index.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as onp
import pandas as pd
from mxnet import gluon, init

from ..ctr_evaluation import evaluate_ctr
from ..data.attributes import item_fields, user_fields
from ..data.ctr import encode_fields, read_ctr
from ..data.formats import COLUMNS
from ..data.interactions import rating_arrays
from ..data.iterators import ArrayIter, ShardOrder
from ..data.spec import materialize
from .base import Setup, Task, pairs_loss

CHUNK_ELEMENTS = 1 << 22      # feature indices built per scoring step


@dataclass
class Fields:
    """A run's examples: ``(features, labels)`` per part (valid and test
    may be None), the fields' slots and names, and for MovieLens data the
    encoded user and item rows (``-1`` in the other side's fields) and the
    fields of neither (``context``: known only for a rated pair)."""
    train: tuple
    valid: Optional[tuple]
    test: Optional[tuple]
    field_dims: onp.ndarray
    names: list
    user_rows: Optional[onp.ndarray] = None
    item_rows: Optional[onp.ndarray] = None
    context: tuple = ()


class CTRFiles:
    """The data of a run on the book's CTR files (no users, no items)."""

    def __init__(self, cfg):
        train, test = read_ctr(cfg.ctr_dir, num_feat='auto')
        x, y = train.features, train.labels
        valid = None
        if cfg.validation:          # a seeded carve-out of train.csv
            rng = onp.random.default_rng([cfg.seed, 10])
            held = rng.random(len(y)) < cfg.valid_ratio
            valid, x, y = (x[held], y[held]), x[~held], y[~held]
        self.fields = Fields((x, y), valid, (test.features, test.labels)
                             if cfg.with_test else None,
                             onp.asarray(train.field_dims.asnumpy()),
                             train.field_names)


def _factorize(values):
    codes, uniques = pd.factorize(onp.asarray(values),
                                  use_na_sentinel=False)
    return codes, onp.asarray(uniques)


def _movielens_columns(data, u, i):
    """MovieLens 100K's attributes (``data.attributes``) of the rows' users
    ``u`` and items ``i``: ``(per-row values, user attributes, item
    attributes)``, the attributes as ``{field: value of each index}``."""
    if data.folder is None:
        raise ValueError(f'{data.spec.describe()}: the feature fields are '
                         "read from a MovieLens folder's u.user and u.item "
                         '(or from columns of --ratings named with '
                         '--features); give --data-dir, --ctr-dir for CTR '
                         'files, or --features')
    users = user_fields(data.folder, data.user_ids)
    items = item_fields(data.folder, data.item_ids)
    rows = {**{n: v[u] for n, v in users.items()},
            **{n: v[i] for n, v in items.items()}}
    return rows, users, items


def _side_values(frame, key, column, size):
    """The value of ``column`` of each of ``size`` users (``key``
    ``'user_id'``) or items in ``frame``, if every one of them has a single
    value there, else None.  Those absent from ``frame`` get None, which
    encodes as the field's default."""
    groups = pd.DataFrame({'k': frame[key].to_numpy(),
                           'v': frame[column].to_numpy()}).groupby('k')['v']
    if (groups.nunique() > 1).any():
        return None
    first = groups.first()
    values = onp.full(size, None, dtype=object)
    values[first.index.to_numpy() - 1] = first.to_numpy()
    return values


def own_columns(data, parts):
    """The ``--features`` columns of the user's own ratings: ``(per-row
    values, user attributes, item attributes)``.  A column with one value
    per user in the training data is a user attribute (else one per item:
    an item attribute; else it describes the rating alone, and is not known
    for a pair that was not rated)."""
    # the columns data.tables kept, checked and in the order given
    names = [n for n in data.train_all.columns if n not in COLUMNS]
    rows = {n: onp.concatenate([p[n].to_numpy() for p in parts])
            for n in names}
    users, items = {}, {}
    for n in names:
        values = _side_values(data.train_all, 'user_id', n, data.num_users)
        if values is not None:
            users[n] = values
            continue
        values = _side_values(data.train_all, 'item_id', n, data.num_items)
        if values is not None:
            items[n] = values
    return rows, users, items


def rating_fields(cfg, data):
    """``Fields`` of ratings: ``user``, ``item``, then the attributes of
    MovieLens 100K or the ``--features`` columns; labels ``rating >=
    cfg.label_threshold``."""
    parts = [p for p in (data.train, data.valid, data.test) if p is not None]
    arrays = [rating_arrays(p) for p in parts]
    u = onp.concatenate([a[0] for a in arrays])
    i = onp.concatenate([a[1] for a in arrays])
    rows, users, items = own_columns(data, parts) if data.spec.features \
        else _movielens_columns(data, u, i)
    names = ['user', 'item'] + list(rows)
    columns = [_factorize(u), _factorize(i)] + \
        [_factorize(v) for v in rows.values()]
    fit = onp.zeros(len(u), bool)
    fit[:len(data.train)] = True
    x, dims, mapper, defaults = encode_fields(columns, fit, field_names=names)
    out, start = {}, 0
    for part, a in zip(parts, arrays):
        n = len(a[0])
        out[id(part)] = (x[start:start + n], (a[2] >= cfg.label_threshold)
                         .astype(onp.float32))
        start += n

    def side(ids, values, own):
        """Encoded rows of every user (or item) index: its own fields,
        -1 in the others."""
        cols = [_factorize(ids if n == own else values[n] if n in values
                           else onp.zeros(len(ids), int)) for n in names]
        encoded = encode_fields(cols, field_names=names, feat_mapper=mapper,
                                defaults=defaults)[0]
        keep = [n == own or n in values for n in names]
        encoded[:, ~onp.array(keep)] = -1
        return encoded
    context = [n for n in rows if n not in users and n not in items]
    part = (lambda p: None if p is None else out[id(p)])
    return Fields(part(data.train), part(data.valid), part(data.test), dims,
                  names, side(onp.arange(data.num_users), users, 'user'),
                  side(onp.arange(data.num_items), items, 'item'), context)


class FieldScorer:
    """Scores of user and item pairs from their encoded rows."""

    def __init__(self, net, user_rows, item_rows):
        from mxnet import np
        self.np, self.net = np, net
        self.user_rows, self.item_rows = user_rows, item_rows
        net.hybridize()

    def _score(self, x):                        # (n, fields) -> (n,)
        from ..scorers import ensure_np_mode
        ensure_np_mode()
        return self.net(self.np.array(x, dtype='int32')).asnumpy()

    def pairs(self, users, items):
        u, i = self.user_rows[users], self.item_rows[items]
        return self._score(onp.where(u >= 0, u, i))

    def rows(self, users):
        users = onp.asarray(users)
        n_items, width = self.item_rows.shape
        out = onp.empty((len(users), n_items), onp.float32)
        step = max(1, CHUNK_ELEMENTS // (n_items * width))
        for s in range(0, len(users), step):
            u = self.user_rows[users[s:s + step]][:, None, :]   # (U, 1, F)
            x = onp.where(u >= 0, u, self.item_rows[None])       # (U, I, F)
            out[s:s + step] = self._score(x.reshape(-1, width)).reshape(
                -1, n_items)
        return out


class FeatureTask(Task):
    """FM, DeepFM and logistic regression on feature fields."""
    kind = 'features'

    def load(self, cfg, frame=None):
        if cfg.ctr_dir:
            return CTRFiles(cfg)
        return materialize(cfg.data_spec(), frame)

    def fields(self, cfg, data):
        return data.fields if isinstance(data, CTRFiles) else \
            rating_fields(cfg, data)

    def setup(self, entry, cfg, data, shard=None, training=True,
              pretrained=None):
        f = self.fields(cfg, data)
        x, y = f.train
        order = ShardOrder(len(y), cfg.batch_size, *shard, seed=cfg.seed,
                           stream=9) if shard else None
        train_iter = ArrayIter(x, y, batch_size=cfg.batch_size,
                               shuffle=True, seed=[cfg.seed, 9],
                               order=order) if training else None
        # the book's blocks end in a sigmoid and its loss adds another
        loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()

        def scored(part, prefix):
            if part is None:
                return None
            batches = ArrayIter(*part, batch_size=1 << 16)
            return lambda net, devices: {
                prefix + k: v for k, v in
                evaluate_ctr(net, batches, devices).items()}
        facts = dict(num_train=len(y), num_fields=len(f.names),
                     num_features=int(f.field_dims.sum()),
                     click_rate=float(y.mean()))
        if f.test is not None:
            facts['num_test'] = len(f.test[1])
        if f.valid is not None:
            facts['num_valid'] = len(f.valid[1])
        return Setup(
            train_iter, loss, lambda net: pairs_loss(net, loss),
            scored(f.test, ''), scored(f.valid, 'valid_'),
            (f.field_dims.tolist(),), facts,
            ('auc', 'log_loss', 'accuracy@0.5', 'valid_auc',
             'valid_log_loss'), f'{entry.title}, {len(f.names)} fields',
            ('train_loss',) + (('auc', 'log_loss') if f.test is not None
                               else ()),
            init=init.Xavier())

    def main_metric(self, cfg):
        return 'auc'

    def monitor(self, cfg):
        return 'valid_auc', 'max'

    def objective(self, options):
        return 'valid_auc', False

    def summary(self, res):
        if 'folds' in res:
            return (f"AUC {res['auc']:.4f} ± {res['auc_std']:.4f} over "
                    f"{len(res['folds'])} folds")
        return (f"AUC {res['auc']:.4f}  log loss {res['log_loss']:.4f}  "
                f"accuracy@0.5 {res['accuracy@0.5']:.4f}")

    def sizes(self, options, num_users, num_items):
        return {}

    def serving_state(self, cfg, data):
        if isinstance(data, CTRFiles):
            raise ValueError(f'{cfg.ctr_dir}: a run on CTR files has no '
                             'users or items to recommend or predict for')
        f = rating_fields(cfg, data)
        if f.context:
            raise ValueError(
                f'{data.spec.describe()}: --features column(s) '
                f'{", ".join(f.context)} vary for one user and for one item, '
                'so their value for a pair never rated is unknown; '
                'recommending and predicting need feature columns that are '
                'user or item attributes')
        return {'user_rows': f.user_rows, 'item_rows': f.item_rows}

    def scorer(self, net, train, run, cache_bytes, state):
        return FieldScorer(net, state['user_rows'], state['item_rows'])

    def example(self, net):
        from mxnet import np
        return (np.zeros((1, len(net.config['field_dims'])), dtype='int32'),)

    def inputs_meaning(self, net):
        return {'data': 'feature rows, (B, fields) offset indices: a '
                        "user's row of state_user_rows where it is not -1, "
                        "else the item's row of state_item_rows "
                        '(interactions.npz)'}
