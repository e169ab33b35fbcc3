"""The report's tuned rows (``rows.TUNED``): each configuration chosen by
``d2l-recsys tune`` on validation data, trained again over seeds and scored
on the test data.

A nested row runs fold k (``folds=5, fold=k``) with the choice of fold k's
own search (``NAME/fold-{k+1}/leaderboard.json``), which read fold k's
training part only, and scores it on fold k's test part.  A row may take
options from other rows' choices (``chosen``) and start from their runs of
the same seed (``needs``).  Its options are built here from its
leaderboards and run by ``runner``, as any other row's; what differs
between rows lives in their declarations.
"""
import tempfile
import time

from ..provenance import context, stamp
from ..registry import command_line
from .boards import chosen_options, read_boards, search_summary
from .rows import TUNED, matches
from .runner import QUICK, Runner, lookup, summary

_COUNT = ('no', 'one', 'two', 'three', 'four', 'five')


class _Plan:
    """The declared tuned rows on the leaderboards of one tuning folder:
    which can run, and the options of each."""

    def __init__(self, declared, boards, data_dir, quick):
        self.rows = {t.name: t for t in declared}
        self.boards, self.data_dir, self.quick = boards, data_dir, quick

    def ready(self, t):
        """Whether every leaderboard ``t`` reads is there."""
        if not t.chosen and t.name not in self.boards:
            return False
        return all(self.ready(self.rows[name])
                   for name in {**t.chosen, **t.needs}.values())

    def boards_of(self, t):
        """The leaderboards behind ``t``: its own, or those of the rows
        its options are chosen from."""
        if not t.chosen:
            return self.boards[t.name]
        names = list(dict.fromkeys(t.chosen.values()))
        return [self.boards[name] for name in names]

    def options(self, t, board=None):
        """``t``'s options (without data and seed): the choice of its
        leaderboard (``board``: a nested row's fold), or the options it
        takes from other rows' choices, with its declared ones over
        them."""
        if t.chosen:
            options = dict(t.options)
            for option, name in t.chosen.items():
                theirs = chosen_options(self.boards[name])
                if option in theirs:
                    options[option] = theirs[option]
        else:
            options = dict(chosen_options(board or self.boards[t.name]),
                           **t.options)
        if self.quick:
            options.update(QUICK)
        return options

    def needs(self, t, seed):
        """``{option: (model, options)}`` of the runs ``t`` starts from."""
        return {option: (self.rows[name].model,
                         dict(self.options(self.rows[name]),
                              data_dir=self.data_dir, seed=seed))
                for option, name in t.needs.items()}

    def command(self, t, options, n):
        """The commands that reproduce a seed of ``t``: those of the runs
        it starts from (each ``--out`` named by its model), then its own."""
        words, given = [], {}
        for option, name in t.needs.items():
            other = self.rows[name]
            given[option] = other.model.upper()
            words.append(command_line(other.model, dict(
                self.options(other), data_dir=self.data_dir,
                out=given[option])))
        words.append(command_line(t.model, dict(
            options, data_dir=self.data_dir, **given)))
        on = f' on all {_COUNT[len(words)]}' if len(words) > 1 else ''
        return ' && '.join(words) + f'  # seeds 0..{n - 1}: --seed S{on}'


def _nested(t, plan, runner):
    """Fold k trained with fold k's own choice and scored on its test
    part.  Returns ``(each fold's values, folds)``."""
    runs, folds = [], []
    for k, board in enumerate(plan.boards[t.name]):
        fixed = board['fixed']
        if fixed.get('fold') != k:
            raise ValueError(f"{t.name}, fold {k + 1}: its leaderboard "
                             f"searched fold {fixed.get('fold')!r} "
                             f'(0-based); expected {k}')
        if fixed.get('folds') != t.folds:
            raise ValueError(f"{t.name}, fold {k + 1}: its leaderboard "
                             f"searched {fixed.get('folds')!r} folds; "
                             f'expected {t.folds}')
        options = dict(plan.options(t, board), folds=t.folds, fold=k)
        _, values = runner.measure(t.model, dict(
            options, data_dir=plan.data_dir), t.metrics)
        runs.append(values)
        folds.append(dict(fold=k + 1, config=board['best']['config'],
                          valid_rmse=board['best']['value'],
                          test_rmse=values[t.metrics[0].name],
                          command=command_line(t.model, dict(
                              options, data_dir=plan.data_dir))))
    return runs, folds


def _measure(t, plan, runner, seeds, keep):
    """The runs of one tuned row.  Returns ``(each run's values, config,
    command, folds, recorded)``."""
    if t.folds:
        runs, folds = _nested(t, plan, runner)
        return runs, None, None, folds, {}
    options = plan.options(t)
    runs, recorded = [], {name: [] for name in t.recorded}
    for seed in range(seeds):
        results, values = runner.measure(
            t.model, dict(options, data_dir=plan.data_dir, seed=seed),
            t.metrics, needs=plan.needs(t, seed), keep=keep)
        runs.append(values)
        for name, key in t.recorded.items():
            recorded[name].append(lookup(results, key))
    return runs, options, plan.command(t, options, seeds), None, recorded


def _selection(t, search, config, n, recorded):
    """What the search of a tuned row read and what the row scored."""
    trials = '/'.join(str(k) for k in sorted(set(search['trials']))) or '?'
    trials += ' trial' if trials == '1' else ' trials'
    return t.selection.format(
        trials=trials, seeds=f'seeds 0..{n - 1}',
        negatives=(config or {}).get('num_test_negatives', 99),
        **{name: ', '.join(f'{v:g}' for v in values)
           for name, values in recorded.items()})


def tuned_rows(tuning_dir, data_dir=None, seeds=5, quick=False,
               verbose=True, rows_matching=None, previous=(), ctx=None,
               declared=TUNED):
    """Run every validation-chosen configuration found in ``tuning_dir``
    over ``seeds`` seeds (or its folds), scoring the test data.

    Args:
        tuning_dir: leaderboards of ``d2l-recsys tune``: ``NAME/`` for the
            declared rows' names, ``NAME/fold-K/`` (K = 1..folds) for
            nested ones; a row whose leaderboards are missing is skipped.
        data_dir: MovieLens 100K (with its u1..u5 files for the nested
            rows).
        seeds: runs per row (a nested row runs each fold once).
        quick: one epoch per run (checks the pipeline only).
        verbose: a line per row.
        rows_matching: run only the rows whose name contains one of these
            texts (a list); the others are taken from ``previous``.
        previous: the ``tuned`` rows of an earlier report.
        ctx: ``provenance.context()`` of this run (default: read it).
        declared: the tuned rows (``rows.Tuned``) in the report's order.

    Returns:
        A list of ``{name, model, settings, protocol, split, metric,
        mean, std, n, values, config, command, folds, search, made,
        selection}`` (and what a row records), a dict per metric of each
        row, in ``declared``'s order.
    """
    plan = _Plan(declared, read_boards(tuning_dir, declared), data_dir,
                 quick)
    needed = {name for t in declared for name in t.needs.values()}
    ctx = ctx or context()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(tmp)
        for t in declared:
            if rows_matching and not matches(t.name, rows_matching):
                rows += [r for r in previous if r.get('name') == t.name]
                continue
            if not plan.ready(t):
                continue
            started = time.perf_counter()
            runs, config, command, folds, recorded = _measure(
                t, plan, runner, seeds, t.name in needed)
            made = stamp(time.perf_counter() - started, ctx)
            search = search_summary(plan.boards_of(t), bool(t.chosen))
            for metric, m in summary(runs).items():
                row = dict(name=t.name, model=t.shown or t.model,
                           settings='search', protocol=t.protocol,
                           split=t.split, metric=metric, mean=m['mean'],
                           std=m['std'], n=len(m['values']),
                           values=m['values'], config=config,
                           command=command, folds=folds, search=search,
                           made=made, **recorded)
                row['selection'] = _selection(t, search, config, row['n'],
                                              recorded)
                rows.append(row)
                if verbose:
                    print(f"tuned {t.name}: {metric} {row['mean']:.4f} ± "
                          f"{row['std']:.4f} (n={row['n']})", flush=True)
    return rows
