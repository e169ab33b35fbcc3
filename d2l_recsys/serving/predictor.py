"""One object that answers for any saved model: predictions for pairs and
top-k recommendations, in the data's original ids (integers or strings).

``load_predictor(folder)`` reads a run folder (``run.json``, ``model.json``
and ``model.params``, written by every training path) or an export folder
(``export.json``, written by ``scripts/export.py``).  A run folder's data
(ids, titles, the training interactions) is rebuilt by materializing the
data spec its run stored (``data.spec``), exactly as training and
re-evaluation see it; an export carries all of it, so serving from an
export needs no data file.

What loading reads, and when: everything, once, in ``load_predictor``.
From a run folder: ``run.json`` and ``model.json`` (JSON) and
``model.params`` (MXNet's NDArray format), never ``checkpoint/``: its
optimizer states are a pickle, and unpickling a file runs whatever code its
author put there.  From an export: JSON, MXNet's NDArray format and a
numpy archive read without pickle.  Nothing is read from the folder
afterwards, so removing or replacing it leaves a loaded predictor (and the
service) answering from the model it loaded.

Terms used throughout:

* **training interactions**: the ratings the model was fit on (the
  training part of the run's split, less any validation carve-out).
* **known** user or item: one with at least one training interaction.  The
  model never learnt anything about the others (their parameters are still
  at initialisation): ``recommend`` refuses an unknown user unless asked for
  a cold start, ``predict`` returns NaN for a pair with an unknown side, and
  unknown items are never recommended.
* **rated**: the user's training interactions and the ones the run held out
  (for validation and for testing).  Recommendations leave out every rated movie by default
  (``exclude='rated'``: the user has seen them); ``exclude='train'`` leaves
  out only the training ones, as the ranking evaluation does, so a held-out
  movie can come back.
* **recent items**: a sequence-aware model (Caser) reads a user's latest
  ``L`` training items, or the latest ``L`` of those a caller gives
  (``recent``, oldest first; fewer is an error: training saw no padding).
"""
import hashlib
import json
import os

from typing import Any, Iterator, Optional, Sequence, Union

import numpy as onp
import pandas as pd

from ..data import rating_arrays
from .. import registry
from ..models.contract import RecommenderBlock
from ..registry import Entry
from ..files import damaged
from ..run_folder import open_run
from .export import _AGAIN, EXPORT_FILE, read_export
from ..data.interactions import Interactions
from ..scorers import CHUNK_ELEMENTS
from .ids import _ids, _lookup, plain, top_k_rows


def config_hash(entry, run):
    """What names a run's definition in a few characters: the first 16 hex
    digits of the SHA-256 of ``{"entry": entry, "config": run}`` as
    canonical JSON (sorted keys, no spaces), with ``out`` and ``resume``
    cleared (where a run was written is no part of what it trained).

    A run folder and every export made from it give the same hash (unless
    ``--data-dir`` named another data folder: the configuration then holds
    that one).

    Args:
        entry: the registry entry's name.
        run: the run's configuration (a JSON-ready dict).

    Returns:
        16 lowercase hex digits.
    """
    config = dict(run or {})
    for key in ('out', 'resume'):
        if key in config:
            config[key] = None
    text = json.dumps(dict(entry=entry, config=config), sort_keys=True,
                      separators=(',', ':'))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


class Predictor:
    """Predictions and recommendations of one trained model.

    Build one with ``load_predictor``; the constructor is for callers that
    already hold the parts (tests, benchmarks).  Not thread-safe: MXNet
    blocks must not run in two threads at once, so serialise calls (the web
    service runs them all on one thread per process).

    Cost of one user's scores (``scorers``): MF and GMF, one row-vector
    times matrix product in numpy; MLP, NeuMF, ItemPop, the network on
    every (user, item) pair; user-based AutoRec, one reconstruction; the
    book's item-based AutoRec, a reconstruction of every item row
    (``O(items x users x hidden)``), done once and cached when the
    users x items result fits in ``cache_bytes``.

    Args:
        net: the block (a class of ``d2l_recsys.models``).
        entry: its ``registry.Entry`` (or registry name).
        run: the run's configuration (a dict; AutoRec's ``variant`` is read
            from it).
        user_ids, item_ids: the original id of each 0-based index
            (integers or strings), ascending.
        train: the training interactions, ``Interactions`` (users x items,
            ratings as values).
        heldout: the held-out interactions, or None.
        titles: a title per item index, or None.
        cache_bytes: see ``scorers.AutoRecScorer``.
        state: arrays the task scores with (``Task.serving_state``).

    Attributes:
        entry, run, net, user_ids, item_ids, titles, train, heldout: as
            given.
        model: the block's class name.
        source: ``{"folder", "kind"}`` for a predictor of
            ``load_predictor`` (the folder made absolute; ``"run"`` or
            ``"export"``), None for one built here.
        results: the run's results dict for a predictor of ``rs.fit``,
            else None.
        config_hash: ``config_hash(entry name, run)``.
        num_users, num_items: sizes of the id spaces.
        popularity: training interactions per item.
        known_users, known_items: boolean masks (see the module docstring).
    """

    def __init__(self, net: RecommenderBlock, entry: Union[str, Entry],
                 run: Optional[dict], user_ids: Sequence, item_ids: Sequence,
                 train: Interactions, heldout: Optional[Interactions] = None,
                 titles: Optional[Sequence[str]] = None,
                 cache_bytes: int = 1 << 30,
                 state: Optional[dict] = None) -> None:
        self.entry = registry.get(entry) if isinstance(entry, str) else entry
        self.model, self.run = type(net).__name__, dict(run or {})
        self.source: Optional[dict] = None
        self.results: Optional[dict] = None   # rs.fit's run results
        self.config_hash = config_hash(self.entry.name, self.run)
        self.user_ids, self.item_ids = _ids(user_ids), _ids(item_ids)
        # string ids are found through a hash index, built once
        self._index = {name: pd.Index(ids) if ids.dtype == object else None
                       for name, ids in (('user', self.user_ids),
                                         ('item', self.item_ids))}
        self.num_users, self.num_items = len(self.user_ids), len(self.item_ids)
        for name, ids in (('user', self.user_ids), ('item', self.item_ids)):
            if (ids[1:] <= ids[:-1]).any():
                raise ValueError(f'{name} ids must be unique and ascending')
        shape = (self.num_users, self.num_items)
        if (train.num_users, train.num_items) != shape:
            raise ValueError(f'training interactions are {train.num_users} x '
                             f'{train.num_items}, the ids {self.num_users} x '
                             f'{self.num_items}')
        self._check_net(net)
        self.net = net
        self.train = train
        self.heldout = heldout if heldout is not None else \
            Interactions.from_pairs([], [], [], self.num_users, self.num_items)
        self.titles = list(titles) if titles is not None else \
            [''] * self.num_items
        self.popularity = train.item_counts()
        self.known_users = train.row_counts() > 0
        self.known_items = self.popularity > 0
        self.state = dict(state or {})
        self.scorer = self.entry.task.scorer(self.net, train, self.run,
                                             cache_bytes, self.state)

    def _check_net(self, net):
        need = self.entry.task.sizes(self.run, self.num_users,
                                     self.num_items)
        have = {k: net.config.get(k) for k in need}
        if have != need:
            raise ValueError(f'the {self.model} model was built for {have}, '
                             f'the data has {need}: is it the data the model '
                             'was trained on?')

    def save(self, folder: str, overwrite: bool = False) -> dict:
        """Write an export folder (``serving.export``): everything needed
        to serve the model, without the training data's files; a folder
        holding an export is replaced only with ``overwrite``."""
        from .export import write_export
        return write_export(self, folder, overwrite)

    # ------------------------------------------------------------------
    # Ids
    # ------------------------------------------------------------------
    def knows_user(self, user: Any) -> bool:
        """Whether ``user`` (an original id) has training interactions."""
        pos, found = _lookup(self.user_ids, [user], self._index['user'])
        return bool(found[0] and self.known_users[pos[0]])

    def user_index(self, user: Any) -> int:
        """The 0-based index of a known user.

        Raises:
            ValueError: ``unknown user U: ...`` for any other id.
        """
        if not self.knows_user(user):
            raise ValueError(
                f'unknown user {user}: not in the training data of this '
                f'{self.model} model (its users run from {self.user_ids[0]} '
                f'to {self.user_ids[-1]}, {int(self.known_users.sum())} '
                'with training data)')
        return int(_lookup(self.user_ids, [user], self._index['user'])[0][0])

    # ------------------------------------------------------------------
    # Scores
    # ------------------------------------------------------------------
    def predict(self, users: Sequence, items: Sequence
                ) -> tuple[onp.ndarray, int]:
        """The model's output for each ``(users[j], items[j])`` pair:
        a predicted rating (MF, AutoRec), a score (GMF, MLP, NeuMF: a logit,
        or a probability with the book's sigmoid output) or the training
        count (ItemPop).

        Args:
            users, items: original ids, aligned sequences.

        Returns:
            ``(predictions, num_unknown)``: a float64 array with NaN where
            the user or the item is unknown, and how many such pairs.
        """
        u, found_u = _lookup(self.user_ids, users, self._index['user'])
        i, found_i = _lookup(self.item_ids, items, self._index['item'])
        if len(u) != len(i):
            raise ValueError(f'{len(u)} users for {len(i)} items')
        ok = found_u & found_i
        ok[ok] = self.known_users[u[ok]] & self.known_items[i[ok]]
        out = onp.full(len(u), onp.nan)
        if ok.any():
            out[ok] = self.scorer.pairs(u[ok], i[ok])
        return out, int((~ok).sum())

    def recent_indices(self, recent):
        """Indices of ``recent`` items (original ids, oldest first); a
        ValueError for a model without sequences, unknown ids (named) or
        fewer than ``L`` items."""
        length = getattr(self.scorer, 'sequence_length', None)
        if length is None:
            raise ValueError(f'recent items: the {self.model} model reads '
                             'no sequence (a sequence-aware one does)')
        if isinstance(recent, str):
            raise ValueError('recent must be a list of item ids')
        recent = list(recent)
        pos, found = _lookup(self.item_ids, recent, self._index['item'])
        found[found] = self.known_items[pos[found]]
        if not found.all():
            bad = [str(recent[j]) for j in onp.flatnonzero(~found)]
            raise ValueError(f"unknown items in recent: {', '.join(bad)} "
                             f'(not in the training data of this '
                             f'{self.model} model)')
        if len(recent) < length:
            raise ValueError(f'recent: the {self.model} model reads the '
                             f'latest {length} items, got {len(recent)}')
        return pos

    def _masked_scores(self, users, exclude, recent=None):
        """Scores of ``users`` (indices) with excluded and unknown items at
        -inf; ``recent``: item indices read instead of their latest."""
        if exclude not in ('rated', 'train'):
            raise ValueError(f"exclude must be 'rated' or 'train', got "
                             f'{exclude!r}')
        scores = onp.asarray(self.scorer.rows(users) if recent is None else
                             self.scorer.rows(users, recent), onp.float32)
        scores[:, ~self.known_items] = -onp.inf
        self.train.mask_into(scores, users)
        if exclude == 'rated':
            self.heldout.mask_into(scores, users)
            if recent is not None:
                scores[:, recent] = -onp.inf
        return scores

    def chunk_size(self) -> int:
        """Users scored per step of a batch job (bounded memory)."""
        return max(1, CHUNK_ELEMENTS // self.num_items)

    def top_items(self, users: Union[Sequence[int], onp.ndarray], k: int,
                  exclude: str = 'rated',
                  recent: Optional[onp.ndarray] = None
                  ) -> tuple[onp.ndarray, onp.ndarray]:
        """Top ``k`` item indices of each user index (one chunk's worth).

        Args:
            users: 0-based user indices.
            k: items per user.
            exclude: ``'rated'`` or ``'train'`` (module docstring).
            recent: item indices a sequence-aware model reads instead of
                the users' latest (``recent_indices``), or None.

        Returns:
            ``(items, scores)``, ``(len(users), k)`` each; ``-inf`` scores
            pad users with fewer than ``k`` candidates.
        """
        return top_k_rows(self._masked_scores(onp.asarray(users), exclude,
                                              recent), k)

    def check_k(self, k: int) -> None:
        """Raise ``ValueError`` unless ``1 <= k <= num_items``."""
        if isinstance(k, bool) or not isinstance(k, (int, onp.integer)) \
                or not 1 <= k <= self.num_items:
            raise ValueError(f'k={k!r}: expected an integer from 1 to the '
                             f'catalogue size, {self.num_items}')

    def _entries(self, items, scores):
        return [dict(rank=r + 1, item=plain(self.item_ids[i]),
                     title=self.titles[i], score=float(s))
                for r, (i, s) in enumerate(zip(items, scores))
                if onp.isfinite(s)]

    def recommend(self, user: Any, k: int = 10,
                  cold_start: Optional[str] = None, exclude: str = 'rated',
                  recent: Optional[Sequence] = None) -> list[dict]:
        """Top ``k`` movies for a user, best first.

        Args:
            user: an original user id.
            k: how many, from 1 to the catalogue size (fewer come back when
                fewer movies are left to recommend).
            cold_start: None, or ``'popular'``: an unknown user then gets
                the most popular movies (score = training interactions)
                instead of an error; ``knows_user`` tells the two apart.
            exclude: ``'rated'`` or ``'train'`` (module docstring).
            recent: item ids a sequence-aware model reads instead of the
                user's latest (module docstring); a cold start ignores them.

        Returns:
            A list of ``{rank, item, title, score}`` with original item ids.

        Raises:
            ValueError: an unknown user without ``cold_start``, a bad ``k``
                or option, ``recent`` refused (``recent_indices``).
        """
        self.check_k(k)
        if cold_start not in (None, 'popular'):
            raise ValueError(f"cold_start must be None or 'popular', got "
                             f'{cold_start!r}')
        recent = None if recent is None else self.recent_indices(recent)
        if cold_start and not self.knows_user(user):
            pop = onp.where(self.known_items, self.popularity, -onp.inf)
            items, scores = top_k_rows(pop[None, :].astype(onp.float64), k)
            return self._entries(items[0], scores[0])
        items, scores = self.top_items([self.user_index(user)], k, exclude,
                                       recent)
        return self._entries(items[0], scores[0])

    def iter_top_k(self, k: int, exclude: str = 'rated') -> Iterator[tuple]:
        """Top ``k`` for every known user, one chunk of users at a time.

        Args:
            k: items per user (1 to the catalogue size).
            exclude: ``'rated'`` or ``'train'``.

        Yields:
            ``(user_ids, item_ids, scores, indices)``: original user ids
            ``(n,)``, original item ids ``(n, k)``, scores ``(n, k)``
            (``-inf`` pads a user with fewer candidates) and the 0-based
            item indices ``(n, k)`` (to look titles up).
        """
        self.check_k(k)
        users = onp.flatnonzero(self.known_users)
        step = self.chunk_size()
        for s in range(0, len(users), step):
            chunk = users[s:s + step]
            items, scores = self.top_items(chunk, k, exclude)
            yield self.user_ids[chunk], self.item_ids[items], scores, items


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------
def _interactions(frame, num_users, num_items):
    u, i, r = rating_arrays(frame)
    return Interactions.from_pairs(u, i, r, num_users, num_items)


def _from_run(model_dir, data_dir, cache_bytes, frame=None):
    """A run folder's predictor: its stored spec materialized."""
    entry, cfg, data, net = open_run(model_dir, data_dir, frame)
    return Predictor(net, entry, cfg.to_dict(), data.user_ids,
                     data.item_ids,
                     _interactions(data.train, data.num_users,
                                   data.num_items),
                     _interactions(data.heldout(), data.num_users,
                                   data.num_items),
                     data.titles(), cache_bytes,
                     entry.task.serving_state(cfg, data))


def load_predictor(model_dir: str, data_dir: Optional[str] = None,
                   cache_bytes: int = 1 << 30,
                   frame: Optional[pd.DataFrame] = None) -> Predictor:
    """A ``Predictor`` for a run folder or an export folder.

    Args:
        model_dir: a run folder (``model.json``) or an export folder
            (``export.json``).
        data_dir: the MovieLens folder, if not the one the run recorded
            (run folders only; an export carries its data).
        cache_bytes: the largest item-based AutoRec reconstruction to cache
            (see ``scorers.AutoRecScorer``).
        frame: the DataFrame a run folder was trained on, when it was
            trained on one (``rs.fit``).

    Returns:
        A ``Predictor``, its ``source`` set.

    Raises:
        FileNotFoundError: neither kind of folder, or the run's data is
            missing.
        ValueError: a malformed folder, or data that does not match the
            model.
    """
    if os.path.isfile(os.path.join(model_dir, EXPORT_FILE)):
        kind = 'export'
        parts = read_export(model_dir)
        try:
            pred = Predictor(cache_bytes=cache_bytes, **parts)
        except ValueError as e:     # its files are not of one export
            raise damaged(model_dir, e, _AGAIN) from None
    elif os.path.isfile(os.path.join(model_dir, 'model.json')):
        kind = 'run'
        pred = _from_run(model_dir, data_dir, cache_bytes, frame)
    else:
        raise FileNotFoundError(f'{model_dir}: neither a run folder (no '
                                f'model.json) nor an export (no '
                                f'{EXPORT_FILE})')
    pred.source = dict(folder=os.path.abspath(model_dir), kind=kind)
    return pred
