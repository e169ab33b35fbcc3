"""``d2l-recsys train MODEL [options]``: train a registered model and
evaluate it; the options are its config class's fields (``--help``)."""
import os
import sys

from .. import cli, registry
from ..callbacks import TrainingInterrupted
from ..config import RankingConfig
from ..folders import FolderInUse, fresh_folder, remove_if_unused
from ..run_folder import read_run
from . import restart_with


def autorec_environment():
    """AutoRec's process environment (``tasks.RowsTask.environment``)."""
    return registry.get('autorec').task.environment()


def train(model, description, argv=None, prog=None):
    """Parse a training command's options (those of the model's config
    class), train, print a summary.

    Args:
        model: a registry name, or None for the ranking script, whose
            ``--model`` chooses among the ranking models.
        description: the help text.
        argv: the arguments (default ``sys.argv[1:]``).
        prog: the program name in messages.

    Returns:
        The exit code: 0, 128 + signal after a stop by a signal (with a
        checkpoint), or 2 after a one-line error on stderr.
    """
    from ..runs import run
    kind = 'ranking' if model is None else None    # the ranking script
    if model is None:
        parser = cli.train_parser(RankingConfig, description,
                                  registry.names('ranking', aliases=True))
    else:
        parser = cli.train_parser(registry.get(model).config, description)
    if prog:
        parser.prog = prog
    args = vars(parser.parse_args(argv))
    verbose = not args.pop('quiet')
    model = args.pop('model', None) or model
    if args.get('resume'):
        args = cli.typed_options(parser, argv)
        args.pop('quiet', None)
        model = args.pop('model', None)
    made = not args.get('resume') and not (
        args.get('out') and os.path.exists(args['out']))
    if not args.get('resume') and not args.get('out'):
        # a new folder, never another run's
        args['out'] = fresh_folder(os.path.join('runs', model))
    try:
        results = run(model, verbose=verbose, **args)
    except TrainingInterrupted as e:
        print(f'{parser.prog}: {e}', file=sys.stderr, flush=True)
        return e.exit_code
    except FolderInUse as e:    # another process's folder: left as it is
        return cli.fail(parser.prog, e)
    except (ValueError, OSError, FloatingPointError) as e:
        if made:
            remove_if_unused(args.get('out'))
        return cli.fail(parser.prog, e)
    name = read_run(args['resume'])['entry'] if args.get('resume') else model
    summary = registry.get(name, kind).task.summary
    secs = results['seconds']
    timing = ''.join(f'{k} {v:.1f} s, ' for k, v in secs.items()
                     if k != 'total')
    out = results['config'].get('out')
    where = f'  -> {out}' if out else '  (rank 0 writes the outputs)'
    print(f"{summary(results)}  ({timing}total {secs['total']:.1f} s)"
          f"{where}")
    return 0


def main(argv=None, prog='d2l-recsys train'):
    """``MODEL [options]``: any registered model, ranking ones included."""
    argv = sys.argv[1:] if argv is None else list(argv)
    models = ', '.join(registry.names(aliases=True))
    if not argv or argv[0].startswith('-'):
        print(f'usage: {prog} MODEL [options]   ({prog} MODEL --help for '
              f'its options)\nmodels: {models}',
              file=sys.stdout if argv else sys.stderr)
        return 0 if argv and argv[0] in ('-h', '--help') else 2
    try:
        entry = registry.get(argv[0])
    except ValueError as e:
        return cli.fail(prog, e)
    if entry.task.environment():
        restart_with(entry.task.environment(), argv)
    return train(entry.name, __doc__, argv[1:], f'{prog} {entry.name}')
