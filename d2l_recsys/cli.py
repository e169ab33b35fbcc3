"""Shared command-line options and error handling of the scripts.

Every default shown by ``--help`` comes from ``defaults``.
"""
import argparse
import datetime
import os
import sys

from . import defaults
from .callbacks import TrainingInterrupted
from .config import KVSTORES
from .data.formats import DATASETS


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show a default only where there is one (not None or False)."""

    def _get_help_string(self, action):
        if any(action.default is v for v in (None, False,
                                             argparse.SUPPRESS)):
            return action.help or ''
        return super()._get_help_string(action)


def typed_options(parser, argv):
    """The options typed on the command line, without the defaults of the
    others (so that a resumed run keeps its stored values)."""
    saved = [(a, a.default) for a in parser._actions]
    try:
        for action, _ in saved:
            action.default = argparse.SUPPRESS
        return vars(parser.parse_args(argv))
    finally:
        for action, default in saved:
            action.default = default


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), exit code 2, and
    every default shown by ``--help``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('formatter_class', _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message}\n')


def _number(kind, test, expected):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'{text!r} is not {expected}') from None
        if not test(value):
            raise argparse.ArgumentTypeError(f'{text} is not {expected}')
        return value
    return parse


positive_int = _number(int, lambda v: v >= 1, 'a positive integer')
positive_float = _number(float, lambda v: v > 0, 'a positive number')
nonneg_float = _number(float, lambda v: v >= 0, 'a number >= 0')
ratio = _number(float, lambda v: 0 <= v < 1, 'a number in [0, 1)')


def base_parser(description, *, epochs=None, batch_size=None, lr=None,
                wd=None, helps=None):
    """Options every training script shares.

    Args:
        description: the script's help text.
        epochs, batch_size, lr, wd: their defaults (None: the run's own,
            e.g. the protocol's for ranking).
        helps: help texts of those four options, by name.

    Returns:
        A ``Parser``.
    """
    p = Parser(description=description,
               formatter_class=_Formatter)
    p.add_argument('--data-dir', help='MovieLens folder, its parent or its '
                   'zip (default: $D2L_RECSYS_DATA, else download through '
                   'd2l)')
    p.add_argument('--dataset', choices=DATASETS,
                   help='the release to read or download (default: what '
                   '--data-dir holds; ml-100k when downloading)')
    p.add_argument('--train-file', help='ratings to train on, in a '
                   'release\'s format (with --test-file; replaces the split)')
    p.add_argument('--test-file', help='held-out ratings')
    p.add_argument('--ratings', metavar='FILE', help='your own ratings: a '
                   'CSV or TSV file with a header naming user, item and '
                   'optionally rating and timestamp (ids of any type)')
    p.add_argument('--columns', metavar='MAP', help='column names of '
                   '--ratings, e.g. user=user_id,item=sku,rating=stars,'
                   'timestamp=ts')
    p.add_argument('--folds', type=_number(int, lambda v: v >= 2,
                                           'an integer >= 2'),
                   metavar='K', help='K-fold cross-validation (ML-100K: its '
                   'own u1..u5 files for K=5 when present)')
    helps = dict(helps or {})
    p.add_argument('--epochs', type=positive_int, default=epochs,
                   help=helps.get('epochs', 'training epochs'))
    p.add_argument('--lr', type=positive_float, default=lr,
                   help=helps.get('lr', 'learning rate'))
    p.add_argument('--wd', type=nonneg_float, default=wd,
                   help=helps.get('wd', 'weight decay'))
    p.add_argument('--batch-size', type=positive_int, default=batch_size,
                   help=helps.get('batch_size', 'examples per step'))
    p.add_argument('--seed', type=int, default=defaults.COMMON['seed'],
                   help='seeds the split, the shuffles, the sampling and '
                   'MXNet')
    p.add_argument('--devices', default=defaults.COMMON['devices'],
                   help='auto | cpu | cpu:K | gpu | gpu:0,1')
    p.add_argument('--kvstore', choices=KVSTORES,
                   default=defaults.COMMON['kvstore'],
                   help='dist_*: a parameter-server job started by python '
                   '-m d2l_recsys.launch (see README, "More than one '
                   'machine")')
    p.add_argument('--out', help='output folder (default: runs/NAME-TIME)')
    p.add_argument('--quiet', action='store_true',
                   help='no per-epoch progress lines')
    life = p.add_argument_group('training lifecycle')
    life.add_argument('--validation', action='store_true',
                      help='carve validation data out of the training data '
                      '(seq-aware protocols: each user\'s latest remaining '
                      'rating; random: --valid-ratio of it)')
    life.add_argument('--valid-ratio', type=ratio,
                      default=defaults.LIFECYCLE['valid_ratio'],
                      help='validation fraction under a random split')
    life.add_argument('--early-stop', type=positive_int, metavar='PATIENCE',
                      help='stop after PATIENCE epochs without a better '
                      'validation metric; restore the best epoch (needs '
                      '--validation)')
    life.add_argument('--checkpoint-every', type=positive_int, metavar='K',
                      default=defaults.LIFECYCLE['checkpoint_every'],
                      help='epochs between checkpoints in --out')
    life.add_argument('--resume', metavar='DIR',
                      help='continue the run in DIR from its checkpoint '
                      '(its stored options are used; only --epochs, '
                      '--devices, --out and --checkpoint-every may be '
                      'typed to change them)')
    return p


def rating_parser(description, book):
    """The rating scripts' options.

    Args:
        description: the script's help text.
        book: the model's row of ``defaults`` (``defaults.MF`` or
            ``defaults.AUTOREC``), whose values become the defaults.

    Returns:
        A ``Parser``.
    """
    p = base_parser(description, epochs=book['epochs'],
                    batch_size=book['batch_size'], lr=book['lr'],
                    wd=book['wd'])
    p.add_argument('--split', choices=['random', 'seq-aware'],
                   default=book['split'], help='random: a --test-ratio of '
                   "the ratings; seq-aware: each user's latest rating")
    p.add_argument('--test-ratio', type=ratio, default=book['test_ratio'],
                   help='test fraction of the random split')
    return p


def add_sparse_grad(p):
    """``--sparse-grad`` / ``--no-sparse-grad``: row-sparse embedding
    gradients; neither: the measured rule."""
    p.add_argument('--sparse-grad', action=argparse.BooleanOptionalAction,
                   help='row-sparse embedding gradients with lazy Adam '
                   'updates (default: when num_users + num_items >= 16 x '
                   'batch size and >= 8192, where they are faster; ML-100K '
                   'stays dense)')


def rating_summary(results):
    """The closing line of a rating script."""
    if 'folds' in results:
        return (f"test RMSE {results['test_rmse']:.4f} ± "
                f"{results['test_rmse_std']:.4f} over "
                f"{len(results['folds'])} folds")
    best = f" (best epoch {results['best_epoch']} of " \
        f"{results['epochs_run']})" if 'best_epoch' in results else ''
    return f"test RMSE {results['test_rmse']:.4f}{best}"


def run(parser, argv, work):
    """A thin script's body: parse ``argv``, call ``work(args)`` and print
    the text it returns.

    Returns:
        The exit code: 0, or 2 after a one-line error on stderr when the
        work raised ``ValueError``, ``OSError`` or ``FloatingPointError``
        (a bad input).
    """
    args = parser.parse_args(argv)
    try:
        print(work(args))
    except (ValueError, OSError, FloatingPointError) as e:
        return fail(parser.prog, e)
    return 0


def add_model_dir(parser, what):
    """``--model-dir`` (required; ``what`` it may be) and ``--data-dir``
    (the MovieLens folder when not the one the model was trained on)."""
    parser.add_argument('--model-dir', required=True, help=what)
    parser.add_argument('--data-dir', help='MovieLens folder, if not the '
                        'one the model was trained on')


def fail(prog, error):
    """Print a one-line error on stderr.

    Returns:
        2, the exit code of a bad input.
    """
    print(f'{prog}: error: {error}', file=sys.stderr)
    return 2


def main(parser, run, name, argv=None, summary=rating_summary):
    """Parse, call ``run(**options)``, print a summary.

    Args:
        parser: the script's ``Parser``.
        run: the library call, e.g. ``run_mf``.
        name: the run folder's prefix when ``--out`` is not given.
        argv: the arguments (default ``sys.argv[1:]``).
        summary: ``results -> str``, the closing line.

    Returns:
        The exit code: 0, or 2 after a one-line error on stderr.
    """
    args = vars(parser.parse_args(argv))
    verbose = not args.pop('quiet')
    if args.get('resume'):
        args = typed_options(parser, argv)
        args.pop('quiet', None)
    elif not args['out']:
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
        args['out'] = os.path.join('runs', f'{name}-{stamp}')
    try:
        results = run(**args, verbose=verbose)
    except TrainingInterrupted as e:
        print(f'{parser.prog}: {e}', file=sys.stderr, flush=True)
        return e.exit_code
    except (ValueError, OSError, FloatingPointError) as e:
        return fail(parser.prog, e)
    secs = results['seconds']
    timing = ''.join(f'{k} {v:.1f} s, ' for k, v in secs.items()
                     if k != 'total')
    out = results['config'].get('out')
    where = f'  -> {out}' if out else '  (rank 0 writes the outputs)'
    print(f"{summary(results)}  ({timing}total {secs['total']:.1f} s)"
          f"{where}")
    return 0
