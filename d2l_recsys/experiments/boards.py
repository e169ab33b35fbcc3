"""The leaderboards of ``d2l-recsys tune`` that the tuned rows read: each
checked (a leaderboard, of the declared space, of the row's model), the
configuration it chose, and what its search was."""
import os

from .. import registry
from ..files import damaged, read_json
from ..search_space import check_board
from .rows import TUNED

_RERUN = 'run its search again (d2l-recsys tune ... --overwrite)'
# What a leaderboard holds that the report reads.
_BOARD = ('model', 'metric', 'trials', 'best', 'fixed', 'space',
          'space_hash')
# Options of the search that the final runs keep (not the data's).
_KEPT = ('epochs', 'early_stop', 'validation', 'devices', 'protocol',
         'num_test_negatives')


def read_boards(tuning_dir, declared=TUNED):
    """The leaderboards of ``tuning_dir`` of the declared tuned rows with
    a search of their own, by row name: a board, or for a nested row the
    list of its folds' boards (fold 1 first; all of them, or none).

    Raises:
        DamagedFile: a leaderboard cannot be read or is not one.
        ValueError: one searched another space or another model.
    """
    boards = {}
    for row in declared:
        if row.chosen:
            continue
        if row.folds:
            paths = [os.path.join(tuning_dir, row.name, f'fold-{k}',
                                  'leaderboard.json')
                     for k in range(1, row.folds + 1)]
            if all(os.path.exists(p) for p in paths):
                boards[row.name] = [_read_board(p, row.model)
                                    for p in paths]
        else:
            path = os.path.join(tuning_dir, row.name, 'leaderboard.json')
            if os.path.exists(path):
                boards[row.name] = _read_board(path, row.model)
    return boards


def _read_board(path, model):
    """A leaderboard written by a search of ``model``'s declared space.

    Raises:
        DamagedFile: it cannot be read or is not a leaderboard.
        ValueError: it searched another space, or another model.
    """
    board = read_json(path, _RERUN)
    missing = [k for k in _BOARD if k not in board] if isinstance(
        board, dict) else list(_BOARD)
    if missing or not isinstance(board['best'], dict) or \
            'config' not in board['best']:
        raise damaged(path, f"not a leaderboard (no {(missing or ['best'])[0]}"
                      ')', _RERUN)
    check_board(board, path)
    if board['model'] != model:
        raise ValueError(f"{path}: a search of {board['model']}; its row "
                         f'reports {model}')
    return board


def chosen_options(board):
    """The options a search chose: the search's own (``_KEPT``) and the
    best trial's configuration."""
    options = {k: v for k, v in board['fixed'].items() if k in _KEPT}
    options.update(board['best']['config'])
    entry = registry.get(board['model'])
    if 'model' in entry.config.__dataclass_fields__:
        options['model'] = entry.name
    return options


def search_summary(boards, borrowed=False):
    """What one search (or a fold's searches) was: ``trials`` (per
    board), ``minutes`` (the trials' runs added up, which a resumed search
    keeps and parallel trials overlap in), each board's ``made`` (date,
    commit, machine, seconds of the whole search) and the ``space``
    searched: its options, source and hash (None for the searches of
    several models: each is its own row's).  ``borrowed``: the row has no
    search of its own; ``of`` names the models whose searches it uses."""
    boards = boards if isinstance(boards, list) else [boards]
    one = len({b['model'] for b in boards}) == 1
    search = dict(trials=[len(b['trials']) for b in boards],
                  minutes=sum(t['seconds'] for b in boards
                              for t in b['trials']) / 60,
                  made=[b.get('made') for b in boards],
                  space=dict(model=boards[0]['model'],
                             options=boards[0]['space'],
                             source=boards[0].get('space_source'),
                             hash=boards[0].get('space_hash'))
                  if one else None)
    if borrowed:
        search['of'] = [registry.get(b['model']).title for b in boards]
    return search
