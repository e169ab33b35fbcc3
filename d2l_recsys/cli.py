"""Shared command-line options and error handling of the scripts.

The training options are the config classes' fields (``config.opt``):
``add_config_options`` turns them into argparse options, so each option is
declared once; every default shown by ``--help`` comes from ``defaults``.
"""
import argparse
import sys
from dataclasses import fields

from .config import AutoRecConfig, MFConfig, RankingConfig, RunConfig
from .parse import positive_int  # noqa: F401  (the scripts' options)


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


GROUPS = {'data': 'data and split', 'training': 'training',
          'lifecycle': 'training lifecycle', 'model': 'model'}


def _shown(value):
    """A default as a command line would type it."""
    if isinstance(value, bool):
        return 'on' if value else 'off'
    if isinstance(value, (list, tuple)):
        return ','.join(str(v) for v in value)
    return str(value)


def option_defaults(cls, name):
    """``(default, text)`` of a config option: the value a parser takes
    and how help and README tables show it (the book's table for AutoRec;
    per table for a class with several, the ranking protocols and MF's
    presets, where the parser leaves None for the config to fill)."""
    field = next(f for f in fields(cls) if f.name == name)
    tables = cls.default_tables()
    shown = {p: _shown(t[name]) for p, t in tables.items() if name in t}
    if len(shown) == len(tables) and len(set(shown.values())) == 1:
        return None, next(iter(shown.values()))    # the same in every table
    if shown:
        return None, ', '.join(f'{v} ({p})' for p, v in shown.items())
    value = cls.table_defaults().get(name, field.default) if not tables \
        else field.default
    return value, (None if value is None or value is False
                   else _shown(value))


def cli_fields(cls):
    """The config fields a command line sets, in declaration order."""
    return [f for f in fields(cls)
            if f.metadata and f.metadata.get('cli', True)]


def add_config_options(parser, cls, names=None):
    """Add an option per field of the config class ``cls`` (or of its
    fields in ``names``), in argparse groups, with the field's help, parser
    and choices and its default (see ``option_defaults``).

    Returns:
        The parser.
    """
    groups = parser.__dict__.setdefault('config_groups', {})
    for f in cli_fields(cls):
        if names is not None and f.name not in names:
            continue
        meta = f.metadata
        group = groups.get(meta['group'])
        if group is None:
            group = groups[meta['group']] = parser.add_argument_group(
                GROUPS[meta['group']])
        default, text = option_defaults(cls, f.name)
        help_text = meta['help']
        if default is None and text:
            help_text += f' (default: {text})'
        kw = dict(help=help_text, default=default)
        if meta.get('flag'):
            kw['action'] = 'store_true' if f.default is False else \
                argparse.BooleanOptionalAction
        else:
            kw.update({k: meta[k] for k in ('type', 'choices', 'metavar')
                       if k in meta})
        group.add_argument('--' + f.name.replace('_', '-'), **kw)
    return parser


def train_parser(cls, description, models=None):
    """A training script's parser: every option of ``cls``, ``--quiet``,
    and ``--model`` when ``models`` (its choices) is given."""
    p = Parser(description=description)
    if models:
        p.add_argument('--model', choices=models,
                       default=cls.model, help='the model to train (mf and '
                       'dmf: dot-product MF for ranking)')
    p.add_argument('--quiet', action='store_true',
                   help='no per-epoch progress lines')
    return add_config_options(p, cls)


def options_table(classes):
    """A markdown table of the options of one or more config classes:
    option, each class's default, help.  ``classes`` maps a column title
    to a class (the same fields in each, e.g. AutoRec and MF)."""
    first = next(iter(classes.values()))
    names = [f.name for f in cli_fields(first)]
    for cls in list(classes.values())[1:]:
        names += [f.name for f in cli_fields(cls) if f.name not in names]
    head = '| option | ' + ' | '.join(classes) + ' | meaning |'
    rows = [head, '|' + ' --- |' * (len(classes) + 2)]
    for name in names:
        cells = []
        for cls in classes.values():
            field = next((f for f in cli_fields(cls) if f.name == name),
                         None)
            text = option_defaults(cls, name)[1] if field else None
            cells.append(f'`{text}`' if text else '—')
        field = next(f for c in classes.values() for f in cli_fields(c)
                     if f.name == name)
        meaning = field.metadata['help'].replace('%%', '%') \
            .replace('|', '\\|')
        rows.append(f"| `--{name.replace('_', '-')}` | "
                    + ' | '.join(cells) + f' | {meaning} |')
    return '\n'.join(rows) + '\n'


OPTION_TABLES = {
    'rating': lambda: {'AutoRec': AutoRecConfig, 'MF': MFConfig},
    'ranking': lambda: {'ncf / book': RankingConfig},
}


def readme_with_options(text, where='README.md'):
    """``text`` with each ``<!-- options: NAME -->`` ... ``<!-- end of
    options -->`` block replaced by ``options_table`` of ``OPTION_TABLES
    [NAME]``: each model's own options and the shared ones whose default is
    the model's (the book's or the protocol's); the other shared options
    have one default for every model and are left to ``--help``."""
    end = '<!-- end of options -->'
    for name, classes in OPTION_TABLES.items():
        begin = f'<!-- options: {name} -->'
        if begin not in text or end not in text.split(begin, 1)[1]:
            raise ValueError(f'{where}: no {begin} ... {end} block')
        head, rest = text.split(begin, 1)
        table = options_table(classes())
        own = set().union(*(c.table_defaults() for c in classes().values()))
        shared = tuple(f"| `--{f.name.replace('_', '-')}` "
                       for f in cli_fields(RunConfig) if f.name not in own)
        table = ''.join(line + '\n' for line in table.splitlines()
                        if not line.startswith(shared))
        text = head + begin + '\n' + table + end + rest.split(end, 1)[1]
    return text


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
