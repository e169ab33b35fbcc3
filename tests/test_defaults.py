"""One place defines each default: the README's option tables, the scripts'
--help and the run configs all agree with d2l_recsys.defaults."""
import os
import re

import pytest

from d2l_recsys import defaults
from d2l_recsys.config import AutoRecConfig, MFConfig, RankingConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_table(header):
    """Rows ``{option: [cells]}`` of the README table under ``header``."""
    text = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    lines = text[text.index(header):].splitlines()[2:]
    rows = {}
    for line in lines:
        if not line.startswith('|'):
            break
        cells = [c.strip() for c in line.strip('|').split('|')]
        rows[cells[0].strip('`').lstrip('-').replace('-', '_')] = cells[1:]
    return rows


def value(cell):
    """A table cell -> the default it states (None for '—')."""
    if cell == '—':
        return None
    text = cell.strip('`')
    if re.fullmatch(r'\d+(,\d+)+', text):
        return [int(t) for t in text.split(',')]
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def norm(v):
    return list(v) if isinstance(v, tuple) else v


def test_readme_option_tables_are_the_generated_ones():
    """The README's option tables are rendered from the config fields
    (scripts/update_readme.py regenerates them)."""
    from d2l_recsys.cli import readme_with_options
    text = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    assert readme_with_options(text) == text


def shows_per_table(cell, tables, key):
    """Whether a README cell states ``key``'s default of every table:
    ``v`` alone when they agree, else ``v (name)`` for each."""
    cell = cell.strip('`')
    shown = {name: ','.join(map(str, t[key])) if isinstance(
        t[key], (list, tuple)) else str(t[key]) for name, t in tables.items()}
    if len(set(shown.values())) == 1:
        return cell == next(iter(shown.values()))
    return all(f'{v} ({name})' in cell for name, v in shown.items())


def test_readme_tables_show_the_book_preset_and_protocol_defaults():
    rows = readme_table('| option | AutoRec | MF | meaning |')
    for key, v in defaults.AUTOREC.items():
        assert value(rows[key][0]) == norm(v), key
    for key in defaults.MF:
        assert shows_per_table(rows[key][1], defaults.MF_PRESETS, key), key
    assert '20 (book)' in rows['epochs'][1]
    ranking = readme_table('| option | ncf / book | meaning |')
    for key in ('epochs', 'lr', 'loss', 'top_k', 'nums_hiddens'):
        assert shows_per_table(ranking[key][0], defaults.PROTOCOL_DEFAULTS,
                               key), key


def test_configs_take_their_defaults_from_the_table():
    mf, autorec = MFConfig(), AutoRecConfig()
    for key, v in defaults.MF.items():
        assert getattr(mf, key) == v
    fast = MFConfig(preset='fast')
    for key, v in defaults.MF_PRESETS['fast'].items():
        assert getattr(fast, key) == v
    # an option typed beside a preset wins over the preset's value
    assert MFConfig(preset='fast', epochs=9).epochs == 9
    with pytest.raises(ValueError, match="preset='quick': expected 'book'"):
        MFConfig(preset='quick')
    for key, v in defaults.AUTOREC.items():
        assert getattr(autorec, key) == v
    for proto, table in defaults.PROTOCOL_DEFAULTS.items():
        cfg = RankingConfig(protocol=proto)
        for key, v in table.items():
            assert norm(getattr(cfg, key)) == norm(v), (proto, key)


def test_parsers_default_to_the_table():
    from d2l_recsys.cli import train_parser
    parsed = vars(train_parser(AutoRecConfig, '').parse_args([]))
    for key, v in defaults.AUTOREC.items():
        assert parsed[key] == v, key


def test_mf_parser_leaves_the_preset_to_fill_its_options():
    from d2l_recsys.cli import train_parser
    parser = train_parser(MFConfig, '')
    parsed = vars(parser.parse_args([]))
    assert parsed['preset'] == 'book'
    assert all(parsed[key] is None for key in defaults.MF)
    fast = vars(parser.parse_args(['--preset', 'fast', '--lr', '0.01']))
    cfg = MFConfig(**{k: v for k, v in fast.items()
                      if k in MFConfig.option_names()})
    assert (cfg.batch_size, cfg.lr, cfg.bias_init) == (8192, 0.01, 'mean')


@pytest.mark.parametrize('script', ['train_mf.py', 'train_autorec.py',
                                    'train_neumf.py'])
def test_help_shows_every_default(script):
    """Every option with a default says it in --help (the ranking ones per
    protocol)."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts',
                                                       script), '--help'],
                         capture_output=True, text=True, timeout=120).stdout
    text = ' '.join(out.split())
    for option in ('--epochs', '--lr', '--wd', '--batch-size', '--seed',
                   '--devices', '--valid-ratio', '--checkpoint-every'):
        start = text.index(option + ' ', text.index('options:'))
        assert '(default: ' in text[start:start + 200], option
