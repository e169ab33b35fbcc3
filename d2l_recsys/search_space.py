"""A model's random-search space: how a configuration is drawn from it
(``sample``), its fingerprint (``space_hash``), the space declared in the
registry (``declared_space``, from ``defaults.SEARCH_SPACES``) and the check
that a leaderboard searched that space (``check_board``).

Both the searches (``tuning``) and the report that reads their
leaderboards (``experiments``) stand on this module; neither imports the
other.
"""
import hashlib
import json
import math

from . import registry


def sample(space, rng):
    """One configuration drawn from a search space.

    Args:
        space: ``{option: spec}``; a spec is ``['log', low, high]`` (log-
            uniform float), ``['int', low, high]`` (uniform integer) or a
            list of choices; a choice that is a dict sets the options it
            names (several options drawn together, e.g. an MLP tower).
        rng: a numpy ``Generator``.

    Returns:
        ``{option: value}`` with plain Python values.
    """
    config = {}
    for name, spec in space.items():
        if spec[0] == 'log':
            value = float(math.exp(rng.uniform(math.log(spec[1]),
                                               math.log(spec[2]))))
            config[name] = float(f'{value:.3g}')
        elif spec[0] == 'int':
            config[name] = int(rng.integers(spec[1], spec[2] + 1))
        else:
            choice = spec[int(rng.integers(len(spec)))]
            if isinstance(choice, dict):
                config.update(json.loads(json.dumps(choice)))
            else:
                config[name] = list(choice) if isinstance(choice, tuple) \
                    else choice
    return config


def space_hash(options):
    """A short fingerprint of a space's options (12 hex digits)."""
    text = json.dumps(options, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def declared_space(model):
    """``(options, source)`` of the model's declared search space."""
    declared = registry.get(model).space
    if not declared:
        raise ValueError(f'model={model!r} has no search space')
    return declared['options'], declared['source']


def check_board(board, name):
    """Refuse a leaderboard made on another space than the model's
    declared one (or recorded without its space)."""
    options, _ = declared_space(board['model'])
    if board.get('space_hash') != space_hash(options):
        raise ValueError(
            f'{name}: its search space (hash {board.get("space_hash")}) is '
            f'not the declared space of {board["model"]} (hash '
            f'{space_hash(options)}); run the search again')
