"""One entry per model: everything the generic paths need to know of it.

Training, re-evaluation, tuning, the predictor, export and the service look
a model up here and never branch on its name.  Adding a model is its block
(a file in ``models/``) and one ``register(Entry(...))``.

An entry says:

* ``block`` -- the Gluon block class; ``build(cfg, num_users, num_items)``
  makes an untrained one from a run configuration.
* ``task`` -- what its kind of model needs (``tasks``): its data,
  batches, loss, evaluators and monitored metric, how the predictor scores
  users with it and what export traces: ``PAIRS`` (explicit ratings as
  ``(user, item, rating)`` batches), ``ROWS`` (AutoRec: rows of the rating
  matrix), ``RANKING`` (implicit feedback with sampled negatives),
  ``SEQUENCES`` (a user's latest items) or ``FEATURES`` (feature fields).
* ``config`` -- the configuration class (``config.py``).
* ``space`` -- its random-search space (``defaults.SEARCH_SPACES``).
* ``aliases`` -- other names it answers to within its kind.
* ``from_counts`` -- for a block fitted by counting (ItemPop), the function
  ``(net, items)`` that fits it instead of gradient steps.
* ``pretrain`` -- for a block that can start from trained GMF and MLP
  blocks (NeuMF), ``(net, gmf, mlp, alpha)`` that copies them in.
"""
import shlex
from dataclasses import dataclass
from typing import Any, Callable, Optional

from mxnet import init

from . import defaults as D
from .config import AutoRecConfig, MFConfig, RankingConfig, RunConfig
from .config_ext import CaserConfig, DeepFMConfig, FMConfig, LRConfig
from .models import GMF, MF, MLP, AutoRec, ItemPop, NeuMF, load_pretrained
from .models.caser import Caser
from .models.contract import RecommenderBlock
from .models.fm import FM, LR, DeepFM
from .models.mf import prefer_sparse_grad
from .tasks import FEATURES, PAIRS, RANKING, ROWS, SEQUENCES, Task



@dataclass(frozen=True)
class Entry:
    """One model (see the module docstring)."""
    name: str
    title: str
    block: type[RecommenderBlock]
    task: Task
    config: type[RunConfig]
    build: Callable[..., RecommenderBlock]
    space: Optional[dict] = None
    aliases: tuple[str, ...] = ()
    from_counts: Optional[Callable[[Any, Any], None]] = None
    pretrain: Optional[Callable[..., None]] = None

    @property
    def kind(self) -> str:
        """The name space of its task (``'rating'``, ``'ranking'``...)."""
        return self.task.kind


_ENTRIES: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    """Add a model; its name and aliases must be new within its kind
    (``unregister`` first to replace one).

    Returns:
        The entry.
    """
    if not isinstance(entry.task, Task):
        raise ValueError(f'{entry.name}: task must be a tasks.Task, got '
                         f'{entry.task!r}')
    for name in (entry.name,) + entry.aliases:
        taken = _find(name, entry.kind)
        if taken is not None:
            raise ValueError(f'model name {name!r} is taken by '
                             f'{taken.name!r}')
    _ENTRIES[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a model (tests register toys and take them away again)."""
    _ENTRIES.pop(name, None)


def _find(name: str, kind: Optional[str] = None) -> Optional[Entry]:
    entries = [e for e in _ENTRIES.values() if kind in (None, e.kind)]
    for e in entries:
        if e.name == name:
            return e
    return next((e for e in entries if name in e.aliases), None)


def get(name: str, kind: Optional[str] = None) -> Entry:
    """The entry called ``name`` (or with that alias) among models of
    ``kind`` (``'rating'``, ``'ranking'`` or None: any; a name is looked
    up first, then aliases).

    Raises:
        ValueError: no such model, naming the known ones.
    """
    entry = _find(name, kind)
    if entry is None:
        raise ValueError(f'model={name!r}: expected one of '
                         f'{", ".join(names(kind))}')
    return entry


def names(kind: Optional[str] = None, aliases: bool = False) -> list[str]:
    """Names of the registered models of ``kind``, with their aliases if
    asked."""
    out: list[str] = []
    for e in _ENTRIES.values():
        if kind in (None, e.kind):
            out += [e.name] + (list(e.aliases) if aliases else [])
    return out


def block_class(class_name: str) -> type[RecommenderBlock]:
    """The block class called ``class_name`` (to load a saved model)."""
    for e in _ENTRIES.values():
        if e.block.__name__ == class_name:
            return e.block
    raise ValueError(f'unknown model class {class_name!r}; known: '
                     f'{sorted({e.block.__name__ for e in _ENTRIES.values()})}')


# --------------------------------------------------------------------------
# The chapters' models
# --------------------------------------------------------------------------
def sparse_grad(cfg, num_users, num_items):
    """A run's ``sparse_grad``: as configured, else the rule of
    ``mf.prefer_sparse_grad``; never under a parameter server (see
    ``RunConfig.validate``)."""
    if cfg.sparse_grad is not None:
        return cfg.sparse_grad
    return not cfg.kvstore.startswith('dist') and \
        prefer_sparse_grad(num_users, num_items, cfg.batch_size)


def _style(cfg, num_users, num_items):
    """The GMF / MLP / NeuMF options a ranking config sets."""
    return dict(sparse_grad=sparse_grad(cfg, num_users, num_items),
                output_activation=cfg.output_activation,
                prediction_bias=cfg.prediction_bias,
                dense_init=init.Xavier() if cfg.dense_init == 'xavier'
                else init.Normal(D.INIT_SIGMA))


def _mf(cfg, num_users, num_items):
    return MF(cfg.num_factors, num_users, num_items,
              sparse_grad=sparse_grad(cfg, num_users, num_items))


def _autorec(cfg, num_users, num_items):
    width = num_users if cfg.variant == 'item' else num_items
    return AutoRec(cfg.num_hiddens, width, dropout=cfg.dropout)


def _gmf(cfg, num_users, num_items):
    return GMF(cfg.num_factors, num_users, num_items,
               **_style(cfg, num_users, num_items))


def _mlp(cfg, num_users, num_items):
    return MLP(cfg.mlp_factors or cfg.num_factors, num_users, num_items,
               cfg.nums_hiddens, **_style(cfg, num_users, num_items))


def _neumf(cfg, num_users, num_items):
    return NeuMF(cfg.num_factors, num_users, num_items, cfg.nums_hiddens,
                 mlp_factors=cfg.mlp_factors,
                 **_style(cfg, num_users, num_items))


def _caser(cfg, num_users, num_items):
    return Caser(cfg.num_factors, num_users, num_items, L=cfg.L, d=cfg.d,
                 d_prime=cfg.d_prime, drop_ratio=cfg.dropout)


def _fm(cfg, field_dims):
    return FM(field_dims, cfg.num_factors, sigmoid=cfg.book_sigmoid)


def _deepfm(cfg, field_dims):
    return DeepFM(field_dims, cfg.num_factors, cfg.mlp_dims,
                  drop_rate=cfg.dropout, sigmoid=cfg.book_sigmoid)


def _lr(cfg, field_dims):
    return LR(field_dims, sigmoid=cfg.book_sigmoid)


S = D.SEARCH_SPACES
register(Entry('mf', 'Matrix factorization', MF, PAIRS, MFConfig, _mf,
               S['mf']))
register(Entry('autorec', 'AutoRec', AutoRec, ROWS, AutoRecConfig, _autorec,
               S['autorec']))
register(Entry('neumf', 'NeuMF', NeuMF, RANKING, RankingConfig, _neumf,
               S['neumf'], pretrain=load_pretrained))
register(Entry('gmf', 'GMF', GMF, RANKING, RankingConfig, _gmf, S['gmf']))
register(Entry('mlp', 'MLP', MLP, RANKING, RankingConfig, _mlp, S['mlp']))
register(Entry('itempop', 'ItemPop', ItemPop, RANKING, RankingConfig,
               lambda cfg, nu, ni: ItemPop(nu, ni),
               from_counts=lambda net, items: net.count(items)))
# Dot-product MF trained for ranking with sampled negatives (Rendle et al.
# 2020); ``--model mf`` of the ranking script.
register(Entry('dmf', 'Dot-product MF', MF, RANKING, RankingConfig, _mf,
               S['dmf'], aliases=('mf',)))
register(Entry('caser', 'Caser', Caser, SEQUENCES, CaserConfig, _caser,
               S['caser']))
register(Entry('fm', 'FM', FM, FEATURES, FMConfig, _fm, S['fm']))
register(Entry('deepfm', 'DeepFM', DeepFM, FEATURES, DeepFMConfig, _deepfm,
               S['deepfm']))
register(Entry('lr', 'Logistic regression', LR, FEATURES, LRConfig, _lr,
               S['lr']))


# Options whose default is neither on nor off (a rule decides): False is
# written out as --no-OPTION.
_NEGATABLE = ('sparse_grad',)


def command_line(model: str, options: dict) -> str:
    """The command that trains ``options`` with the model's script (a
    ranking model's is ``train_neumf.py --model NAME``)."""
    entry = get(model)
    script = entry.task.script or f'train_{entry.name}.py'
    if 'model' in entry.config.__dataclass_fields__:
        options = dict(options)
        options.setdefault('model', entry.name)
    words = ['python', f'scripts/{script}']
    for key, value in options.items():
        flag = '--' + key.replace('_', '-')
        if value is False and key in _NEGATABLE:
            words.append('--no-' + flag[2:])
            continue
        if value is None or value is False or key in ('verbose',):
            continue
        if value is True:
            words.append(flag)
        elif isinstance(value, (list, tuple)):
            words += [flag, ','.join(str(v) for v in value)]
        else:
            words += [flag, str(value)]
    return ' '.join(shlex.quote(w) for w in words)
