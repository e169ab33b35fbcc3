"""The report's tuned rows: configurations chosen by ``scripts/tune.py`` on
validation data, rerun over seeds (or folds) and scored on the test data.

Cross-validated rows are nested: fold k's configuration comes from the
search of ``NAME/fold-k/leaderboard.json``, which read fold k's training
file only (``u{k}.base``, validation carved from it), and is scored on
``u{k}.test``.  Every row says what its search read and what was scored.
"""
import os
import tempfile
import time

import numpy as onp

from . import registry
from .files import damaged, read_json
from .provenance import context, stamp
from .runs import run, run_mf, run_ranking
from .registry import command_line
from .search_space import check_board

FOLDS = 5
# (leaderboard folder, model, protocol, split)
TUNED = [
    ('mf_folds', 'mf', None, 'u1-u5'),
    ('autorec_folds', 'autorec', None, 'u1-u5'),
    ('mf_seq', 'mf', None, 'seq-aware'),
    ('gmf_ncf', 'gmf', 'ncf', 'ncf'),
    ('mlp_ncf', 'mlp', 'ncf', 'ncf'),
    ('dmf_ncf', 'mf', 'ncf', 'ncf'),
    ('neumf_pretrained', 'neumf', 'ncf', 'ncf'),
]
# Options of the search that the final runs keep (not the data's).
_KEPT = ('epochs', 'early_stop', 'validation', 'devices', 'protocol',
         'num_test_negatives')
# The test metrics a tuned row reports: (report name, results key).
_RATING_METRICS = [('RMSE', 'test_rmse')]
_RANKING_METRICS = [('HR@10', 'hit_rate@10'), ('NDCG@10', 'ndcg@10')]


_RERUN = 'run its search again (d2l-recsys tune ... --overwrite)'


def read_boards(tuning_dir):
    """The leaderboards of ``tuning_dir`` by name: a board, or for a
    ``*_folds`` name the list of its folds' boards (fold 1 first)."""
    boards = {}
    for name, *_ in TUNED:
        if name.endswith('_folds'):
            paths = [os.path.join(tuning_dir, name, f'fold-{k}',
                                  'leaderboard.json')
                     for k in range(1, FOLDS + 1)]
            if all(os.path.exists(p) for p in paths):
                boards[name] = [_read_board(p) for p in paths]
        else:
            path = os.path.join(tuning_dir, name, 'leaderboard.json')
            if os.path.exists(path):
                boards[name] = _read_board(path)
    return boards


# What a leaderboard holds that the report reads.
_BOARD = ('model', 'metric', 'trials', 'best', 'fixed', 'space',
          'space_hash')


def _read_board(path):
    """A leaderboard written by a search of the declared space.

    Raises:
        DamagedFile: it cannot be read or is not a leaderboard.
        ValueError: it searched another space.
    """
    board = read_json(path, _RERUN)
    missing = [k for k in _BOARD if k not in board] if isinstance(
        board, dict) else list(_BOARD)
    if missing or not isinstance(board['best'], dict) or \
            'config' not in board['best']:
        raise damaged(path, f"not a leaderboard (no {(missing or ['best'])[0]}"
                      ')', _RERUN)
    check_board(board, path)
    return board


def _options(board):
    options = {k: v for k, v in board['fixed'].items() if k in _KEPT}
    options.update(board['best']['config'])
    entry = registry.get(board['model'])
    if 'model' in entry.config.__dataclass_fields__:
        options['model'] = entry.name
    return options


def _search(boards):
    """What one search (or a fold's searches) was: ``trials`` (per
    board), ``minutes`` (the trials' runs added up, which a resumed search
    keeps and parallel trials overlap in), each board's ``made`` (date,
    commit, machine, seconds of the whole search) and the ``space``
    searched: its options, source and hash (None for the searches of
    several models: each is its own row's)."""
    boards = boards if isinstance(boards, list) else [boards]
    one = len({b['model'] for b in boards}) == 1
    return dict(trials=[len(b['trials']) for b in boards],
                minutes=sum(t['seconds'] for b in boards
                            for t in b['trials']) / 60,
                made=[b.get('made') for b in boards],
                space=dict(model=boards[0]['model'],
                           options=boards[0]['space'],
                           source=boards[0].get('space_source'),
                           hash=boards[0].get('space_hash')) if one else None)


def selection_text(row):
    """What the search of a tuned row read and what the row scored."""
    name, n = row['name'], row['n']
    trials = row.get('search', {}).get('trials') or []
    t = '/'.join(str(k) for k in sorted(set(trials))) or '?'
    t += ' trial' if t == '1' else ' trials'
    seeds = f'seeds 0..{n - 1}'
    if row['split'] == 'u1-u5':
        return (f'nested: for each fold k, {t} read u{{k}}.base '
                'only (fit on a random 90%, ranked by RMSE on the other '
                '10%); the fold\'s choice trained again the same way '
                '(seed 0) and scored once on u{k}.test')
    if row['split'] == 'seq-aware':
        return (f'{t} on the training part (every rating but each '
                "user's latest), ranked by RMSE on each user's latest "
                'remaining rating; the choice scored on the held-out latest '
                f'ratings, {seeds}')
    negatives = (row.get('config') or {}).get('num_test_negatives', 99)
    if name == 'neumf_pretrained':
        alphas = row.get('alphas')
        chose = ' (the weights chosen: ' + ', '.join(
            f'{a:g}' for a in alphas) + ')' if alphas else ''
        return ('no search of its own: NeuMF initialised from the GMF and '
                'MLP runs of the two rows above (same seed), the weight of '
                'the GMF part chosen from 0, 0.05, ..., 1 by validation '
                'NDCG@10, fine-tuned with SGD and early stopping on '
                'validation HR@10, scored on the test items '
                f'against {negatives} sampled negatives, {seeds}{chose}; '
                'its time is the fine-tuning only')
    return (f"{t} on the training data (every interaction but each "
            "user's latest), ranked by HR@10 of each user's latest "
            'remaining interaction (candidates: items the user never '
            'interacted with, so never the test item); the choice scored '
            f'on the test items against {negatives} sampled negatives, '
            f'{seeds}')


def _nested(name, boards, data_dir, quick):
    """Fold k trained with fold k's own choice and scored on u{k}.test."""
    model = boards[0]['model']
    short = dict(epochs=2) if quick else {}
    results, folds = [], []
    for k, board in enumerate(boards):
        if board['fixed'].get('fold') != k:
            raise ValueError(f"{name}, fold {k + 1}: its leaderboard searched "
                             f"fold {board['fixed'].get('fold')!r} (0-based)"
                             f'; expected {k}')
        options = dict(_options(board), folds=5, fold=k, **short)
        res = run(model, data_dir=data_dir, verbose=False, **options)
        results.append(res)
        folds.append(dict(fold=k + 1, config=board['best']['config'],
                          valid_rmse=board['best']['value'],
                          test_rmse=res['test_rmse'],
                          command=command_line(model, dict(
                              options, data_dir=data_dir))))
    return results, folds


def _pretrained_dir(tmp, name, seed):
    """Where the tuned GMF (MLP) run of a seed is kept for NeuMF."""
    return os.path.join(tmp, f'tuned-{name}-{seed}')


def _tuned_neumf(boards, data_dir, seed, tmp, epochs=None):
    """NeuMF initialised from the tuned GMF and MLP of this seed (the runs
    of their own rows when they ran, else trained here), the GMF part's
    weight chosen on validation (``alpha='auto'``), fine-tuned with SGD
    and early stopping on validation.

    Returns:
        ``(results, options, command)``: the NeuMF run's results, its
        options and the three commands (GMF, MLP, NeuMF) that reproduce it.
    """
    chosen = {name: _options(boards[f'{name}_ncf']) for name in ('gmf', 'mlp')}
    dirs, commands = {}, []
    for name, opts in chosen.items():
        if epochs:
            opts = dict(opts, epochs=epochs)
        dirs[name] = _pretrained_dir(tmp, f'{name}_ncf', seed)
        if not os.path.exists(os.path.join(dirs[name], 'metrics.json')):
            run_ranking(data_dir=data_dir, seed=seed, out=dirs[name],
                        verbose=False, **opts)
        commands.append(command_line('neumf', dict(
            opts, data_dir=data_dir, out=name[0].upper())))
    gmf, mlp = chosen['gmf'], chosen['mlp']
    options = dict(model='neumf', protocol='ncf', validation=True,
                   early_stop=3, epochs=epochs or 20, alpha='auto',
                   num_factors=gmf['num_factors'],
                   mlp_factors=mlp['mlp_factors'],
                   nums_hiddens=mlp['nums_hiddens'],
                   **{k: gmf[k] for k in ('num_test_negatives',) if k in gmf})
    res = run_ranking(data_dir=data_dir, seed=seed, verbose=False,
                      pretrain_gmf=dirs['gmf'], pretrain_mlp=dirs['mlp'],
                      **options)
    commands.append(command_line('neumf', dict(
        options, data_dir=data_dir, pretrain_gmf='G', pretrain_mlp='M')))
    return res, options, ' && '.join(commands)


def _values(name, boards, data_dir, seeds, quick, tmp):
    """The test metrics of every seed (or fold) of one tuned row.

    Returns:
        ``({metric: values}, options, command, folds or None, extra)``;
        ``extra`` goes into each of the row's dicts (the pretrained
        NeuMF's ``alphas``: the weight validation chose for each seed).
    """
    short = dict(epochs=2) if quick else {}

    def collect(results, metrics):
        return {m: [r[key] for r in results] for m, key in metrics}
    if name.endswith('_folds'):
        results, folds = _nested(name, boards[name], data_dir, quick)
        return collect(results, _RATING_METRICS), None, None, folds, {}
    if name == 'neumf_pretrained':
        runs = [_tuned_neumf(boards, data_dir, seed, tmp,
                             short.get('epochs')) for seed in range(seeds)]
        results = [r for r, _, _ in runs]
        return collect(results, _RANKING_METRICS), runs[0][1], runs[0][2], \
            None, dict(alphas=[r['pretrained']['alpha'] for r in results])
    options = dict(_options(boards[name]), **short)
    if name == 'mf_seq':
        options['split'] = 'seq-aware'
        results = [run_mf(data_dir=data_dir, seed=s, verbose=False,
                          **options) for s in range(seeds)]
        return collect(results, _RATING_METRICS), options, \
            command_line('mf', dict(options, data_dir=data_dir)), None, {}
    keep = name in ('gmf_ncf', 'mlp_ncf')     # NeuMF starts from them
    results = [run_ranking(data_dir=data_dir, seed=s, verbose=False,
                           out=_pretrained_dir(tmp, name, s) if keep
                           else None, **options) for s in range(seeds)]
    return collect(results, _RANKING_METRICS), options, \
        command_line('neumf', dict(options, data_dir=data_dir)), None, {}


def matches(name, texts):
    """Whether ``name`` contains ``texts`` (a string) or one of them (a
    list); None matches nothing."""
    texts = [texts] if isinstance(texts, str) else texts or ()
    return any(t in name for t in texts)


def tuned_rows(tuning_dir, data_dir=None, seeds=5, quick=False,
               verbose=True, rows_matching=None, previous=(), ctx=None):
    """Run every validation-chosen configuration found in ``tuning_dir``
    over ``seeds`` seeds (or ML-100K's five folds), scoring the test data.

    Args:
        tuning_dir: leaderboards of ``scripts/tune.py``: ``NAME/`` for the
            names of ``TUNED``, ``NAME/fold-K/`` (K = 1..5) for the nested
            ``*_folds`` ones; missing ones are skipped.
        data_dir: MovieLens 100K (with its u1..u5 files for the fold rows).
        seeds: runs per row (the fold rows run the five folds once).
        quick: at most 2 epochs per run (checks the pipeline only).
        verbose: a line per row.
        rows_matching: run only the leaderboards whose name contains one
            of these texts (a list); the others' rows are taken from
            ``previous``.
        previous: the ``tuned`` rows of an earlier report.
        ctx: ``provenance.context()`` of this run (default: read it).

    Returns:
        A list of ``{name, model, protocol, split, metric, mean, std, n,
        values, config, command, folds, search, selection, made}`` in
        ``TUNED``'s order; ranking models give two rows (HR@10 and
        NDCG@10), rating models one (RMSE).
    """
    boards = read_boards(tuning_dir)
    ctx = ctx or context()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, protocol, split in TUNED:
            if rows_matching and not matches(name, rows_matching):
                rows += [r for r in previous if r.get('name') == name]
                continue
            used = ['gmf_ncf', 'mlp_ncf'] if name == 'neumf_pretrained' \
                else [name]
            if not set(used) <= set(boards):
                continue
            t0 = time.perf_counter()
            values, options, command, folds, extra = _values(
                name, boards, data_dir, seeds, quick, tmp)
            made = stamp(time.perf_counter() - t0, ctx)
            n = len(next(iter(values.values())))
            if folds is None:
                command += f'  # seeds 0..{n - 1}: --seed S' + \
                    (' on all three' if name == 'neumf_pretrained' else '')
            for metric, vals in values.items():
                row = dict(name=name, model=model, settings='search',
                           protocol=protocol,
                           split=split, metric=metric,
                           mean=float(onp.mean(vals)),
                           std=float(onp.std(vals, ddof=1)), n=len(vals),
                           values=vals, config=options, command=command,
                           folds=folds,
                           search=_search([boards[u] for u in used]
                                          if len(used) > 1 else
                                          boards[name]), made=made,
                           **extra)
                row['selection'] = selection_text(row)
                rows.append(row)
                if verbose:
                    print(f"tuned {name}: {metric} {row['mean']:.4f} ± "
                          f"{row['std']:.4f} (n={row['n']})", flush=True)
    return rows
