"""The defaults are the published settings: the book's chapters and the NCF
paper and its code, written out here literally (never read back from
``d2l_recsys.defaults``), and d2l's own installed functions where they state
a setting.  Checked where runs take them from: the config classes, the
command line's parsed defaults and --help, the README's option tables, and
the objects a run actually builds (trainer, network, batches, loss,
evaluator)."""
import inspect
import os
import re

import pytest
from d2l import mxnet as d2l

from conftest import make_movielens
from d2l_recsys.config import AutoRecConfig, MFConfig, RankingConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# d2l.ai, chapter "Matrix Factorization": split_and_load_ml100k(test_ratio=
# 0.1, batch_size=512), MF(30, num_users, num_items), lr 0.002, 20 epochs,
# wd 1e-5, 'adam'.  Its split is split_and_load_ml100k's default split_mode,
# read from d2l below.
BOOK_MF = dict(num_factors=30, lr=0.002, wd=1e-5, epochs=20, batch_size=512,
               test_ratio=0.1)
# chapter "AutoRec": AutoRec(500, num_users) with dropout=0.05, batches of
# 256, lr 0.002, 25 epochs, wd 1e-5, 'adam'; the data split by
# split_data_ml100k(df, num_users, num_items), i.e. with its defaults (read
# from d2l below).
BOOK_AUTOREC = dict(num_hiddens=500, dropout=0.05, lr=0.002, wd=1e-5,
                    epochs=25, batch_size=256)
# chapter "Neural Collaborative Filtering for Personalized Ranking":
# NeuMF(10, num_users, num_items, nums_hiddens=[10, 10, 10]), batches of
# 1024, lr 0.01, 10 epochs, wd 1e-5, 'adam', BPRLoss, one sampled negative
# per positive (PRDataset), Hit@50 (the 50 is d2l's, checked below).
BOOK_NEUMF = dict(num_factors=10, nums_hiddens=[10, 10, 10], lr=0.01,
                  wd=1e-5, epochs=10, batch_size=1024, loss='bpr',
                  num_negatives=1, top_k=50, optimizer='adam')
# He et al. (2017), "Neural Collaborative Filtering", and its code's README
# runs (GMF.py / MLP.py / NeuMF.py --epochs 20 --batch_size 256
# --num_factors 8 --layers [64,32,16,8] --regs [0,0] --reg_layers [0,0,0,0]
# --num_neg 4 --lr 0.001 --learner adam): 8 predictive factors, MLP
# embeddings of 32 (the first layer, 64, is the user's and item's
# concatenated) and tower 32,16,8, pointwise log loss, each held-out item
# ranked among 99 sampled items, HR@10, and alpha = 0.5 when NeuMF starts
# from pretrained parts (section 3.4.1).
NCF = dict(num_factors=8, mlp_factors=32, nums_hiddens=[32, 16, 8],
           lr=0.001, wd=0.0, batch_size=256, num_negatives=4,
           num_test_negatives=99, top_k=10, epochs=20, loss='bce',
           optimizer='adam', alpha=0.5)


def d2l_defaults(fn):
    return {name: p.default for name, p in
            inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


def d2l_hit_cutoff():
    """The k of d2l's evaluate_ranking (hard-coded in its body)."""
    src = inspect.getsource(d2l.evaluate_ranking)
    return int(re.search(r'hit_and_auc\([^,]+,[^,]+,\s*(\d+)\)',
                         src).group(1))


# the splits the chapters get from d2l's defaults
MF_SPLIT = dict(split=d2l_defaults(d2l.split_and_load_ml100k)['split_mode'])
AUTOREC_SPLIT = dict(
    split=d2l_defaults(d2l.split_data_ml100k)['split_mode'],
    test_ratio=d2l_defaults(d2l.split_data_ml100k)['test_ratio'])


def test_d2l_states_the_splits_and_the_cutoff():
    """The facts read from d2l are the ones the chapters print, and the
    package's book-named functions keep d2l's defaults."""
    import d2l_recsys as rs
    assert MF_SPLIT == dict(split='seq-aware')
    assert AUTOREC_SPLIT == dict(split='random', test_ratio=0.1)
    assert d2l_defaults(d2l.split_and_load_ml100k)['test_ratio'] == \
        BOOK_MF['test_ratio']
    assert d2l_hit_cutoff() == BOOK_NEUMF['top_k'] == 50
    for name in ('split_and_load_ml100k', 'split_data_ml100k',
                 'load_data_ml100k'):
        ours = d2l_defaults(getattr(rs, name))
        for key, v in d2l_defaults(getattr(d2l, name)).items():
            assert ours[key] == v, (name, key)
    assert d2l_defaults(rs.evaluate_ranking)['k'] == d2l_hit_cutoff()


def check(cfg, facts, where):
    for key, v in facts.items():
        got = getattr(cfg, key)
        assert (list(got) if isinstance(got, tuple) else got) == v, \
            (where, key, got, v)


def test_configs_hold_the_published_settings():
    """Mutation tried (d2l_recsys/defaults.py, reverted): MF's book lr
    0.002 -> 0.003 and the NCF protocol's training negatives 4 -> 3.  This
    test failed, and so did the command-line, --help, README-generation and
    run tests below (the former test here compared each config with that
    very table, and passed)."""
    check(MFConfig(), dict(BOOK_MF, **MF_SPLIT), 'MF')
    check(MFConfig(preset='book'), dict(BOOK_MF, **MF_SPLIT), 'MF book')
    check(AutoRecConfig(), dict(BOOK_AUTOREC, **AUTOREC_SPLIT), 'AutoRec')
    check(RankingConfig(protocol='book'), BOOK_NEUMF, 'book')
    check(RankingConfig(), NCF, 'default protocol')
    check(RankingConfig(protocol='ncf'), NCF, 'ncf')
    # an option typed beside a preset wins over the preset's value
    assert MFConfig(preset='fast', epochs=9).epochs == 9
    with pytest.raises(ValueError, match="preset='quick': expected 'book'"):
        MFConfig(preset='quick')


def parsed_config(cls, args):
    from d2l_recsys.cli import train_parser
    parsed = vars(train_parser(cls, '').parse_args(args))
    return cls(**{k: v for k, v in parsed.items()
                  if k in cls.option_names()})


def test_command_line_defaults_are_the_published_settings():
    check(parsed_config(MFConfig, []), dict(BOOK_MF, **MF_SPLIT), 'MF')
    check(parsed_config(AutoRecConfig, []),
          dict(BOOK_AUTOREC, **AUTOREC_SPLIT), 'AutoRec')
    check(parsed_config(RankingConfig, []), NCF, 'ncf')
    check(parsed_config(RankingConfig, ['--protocol', 'book']), BOOK_NEUMF,
          'book')


def shown(v):
    """A value as --help and the README print it."""
    return ','.join(map(str, v)) if isinstance(v, list) else str(v)


def stated_default(text, flag):
    """What --help says in ``(default: ...)`` of option ``flag``."""
    line = re.search(rf'^  {flag}[ ,\n]', text, re.M)   # its own entry
    text = ' '.join(text[line.start():].split())
    at = text.index('(default: ')
    depth, end = 0, at
    for end, ch in enumerate(text[at:], at):
        depth += {'(': 1, ')': -1}.get(ch, 0)
        if depth == 0:
            break
    return text[at + len('(default: '):end]


@pytest.mark.parametrize('cls, tables', [
    (MFConfig, {'book': dict(BOOK_MF, **MF_SPLIT)}),
    (AutoRecConfig, {None: dict(BOOK_AUTOREC, **AUTOREC_SPLIT)}),
    (RankingConfig, {'book': BOOK_NEUMF, 'ncf': NCF}),
])
def test_help_states_the_published_settings(cls, tables):
    from d2l_recsys.cli import train_parser
    text = train_parser(cls, '').format_help()
    for name, facts in tables.items():
        for key, v in facts.items():
            if key == 'optimizer':     # its help states the rule instead
                continue
            said = stated_default(text, '--' + key.replace('_', '-'))
            want = shown(v) if name is None else f'{shown(v)} ({name})'
            assert said == shown(v) or want in said, (key, said, want)


def readme_table(header):
    """Rows ``{option: [cells]}`` of the README table under ``header``."""
    text = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    lines = text[text.index(header):].splitlines()[2:]
    rows = {}
    for line in lines:
        if not line.startswith('|'):
            break
        cells = [c.strip().strip('`') for c in line.strip('|').split('|')]
        rows[cells[0].lstrip('-').replace('-', '_')] = cells[1:]
    return rows


def test_readme_option_tables_are_the_generated_ones():
    """The README's option tables are rendered from the config fields
    (scripts/update_readme.py regenerates them)."""
    from d2l_recsys.cli import readme_with_options
    text = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    assert readme_with_options(text) == text


def test_readme_tables_state_the_published_settings():
    rows = readme_table('| option | AutoRec | MF | meaning |')
    for key, v in dict(BOOK_AUTOREC, **AUTOREC_SPLIT).items():
        assert rows[key][0] == shown(v), key
    for key, v in dict(BOOK_MF, **MF_SPLIT).items():
        cell = rows[key][1]
        assert cell == shown(v) or f'{shown(v)} (book)' in cell, key
    ranking = readme_table('| option | ncf / book | meaning |')
    for name, facts in (('book', BOOK_NEUMF), ('ncf', NCF)):
        for key, v in facts.items():
            if key == 'optimizer':
                continue
            cell = ranking[key][0]
            assert cell == shown(v) or f'{shown(v)} ({name})' in cell, \
                (name, key)


def test_mf_parser_leaves_the_preset_to_fill_its_options():
    from d2l_recsys.cli import train_parser
    parser = train_parser(MFConfig, '')
    parsed = vars(parser.parse_args([]))
    assert parsed['preset'] == 'book'
    assert all(parsed[key] is None for key in BOOK_MF)
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


# ---------------------------------------------------------------------------
# What a run given no option builds
# ---------------------------------------------------------------------------

@pytest.fixture(scope='module')
def wide_dir(tmp_path_factory):
    """Enough data for a full batch of every default: 300 items (AutoRec's
    item rows, 256 a batch), over 1,024 training ratings (NeuMF's book
    batch) and over 99 never-seen items per user (the NCF candidates)."""
    return make_movielens(str(tmp_path_factory.mktemp('wide') / 'ml-100k'),
                          num_users=50, num_items=300, density=0.1, seed=2)


class Spy:
    """Stands in for the training loop a run calls: records what the run
    passes (network, trainer, epochs, loss, iterator) and the batch size of
    the first step, then trains one epoch for real."""

    def __init__(self, monkeypatch, module, name):
        self.real = getattr(module, name)
        monkeypatch.setattr(module, name, self)

    def __call__(self, net, train_iter, *args, **kwargs):
        names = list(inspect.signature(self.real).parameters)[2:]
        given = dict(zip(names, args), **kwargs)
        trainer = given['trainer']
        self.seen = dict(net=net, train_iter=train_iter, given=given,
                         optimizer=type(trainer._optimizer).__name__.lower(),
                         lr=trainer.learning_rate, wd=trainer._optimizer.wd,
                         num_epochs=given['num_epochs'], steps=[])
        step = trainer.step

        def recorded(batch_size, *a, **kw):
            self.seen['steps'].append(batch_size)
            return step(batch_size, *a, **kw)
        trainer.step = recorded
        given['num_epochs'] = 1
        return self.real(net, train_iter, **given)


def test_rating_runs_use_the_books_settings(wide_dir, monkeypatch):
    """Mutation tried (d2l_recsys/runs/rating.py, reverted): the rating
    runs' Trainer made with 'sgd' instead of 'adam': this test failed."""
    from d2l_recsys.runs import run_autorec, run_mf, task_run
    spy = Spy(monkeypatch, task_run, 'train_loop')
    res = run_mf(data_dir=wide_dir, devices='cpu', verbose=False)
    seen = spy.seen
    assert (seen['optimizer'], seen['lr'], seen['wd'], seen['num_epochs'],
            seen['steps'][0]) == ('adam', BOOK_MF['lr'], BOOK_MF['wd'],
                                  BOOK_MF['epochs'], BOOK_MF['batch_size'])
    assert seen['net'].P.weight.shape[1] == BOOK_MF['num_factors']
    assert seen['net'].Q.weight.shape[1] == BOOK_MF['num_factors']
    # seq-aware: each user's latest rating is the test set
    assert MF_SPLIT['split'] == 'seq-aware'
    assert res['num_test'] == res['num_users']

    res = run_autorec(data_dir=wide_dir, devices='cpu', verbose=False)
    seen = spy.seen
    assert (seen['optimizer'], seen['lr'], seen['wd'], seen['num_epochs'],
            seen['steps'][0]) == ('adam', BOOK_AUTOREC['lr'],
                                  BOOK_AUTOREC['wd'], BOOK_AUTOREC['epochs'],
                                  BOOK_AUTOREC['batch_size'])
    net = seen['net']
    assert net.encoder.weight.shape == (BOOK_AUTOREC['num_hiddens'],
                                        res['num_users'])   # item-based
    assert net.dropout._rate == BOOK_AUTOREC['dropout']
    # random: a tenth of the ratings, whatever the users
    assert AUTOREC_SPLIT['split'] == 'random'
    share = res['num_test'] / (res['num_test'] + res['num_train'])
    assert abs(share - AUTOREC_SPLIT['test_ratio']) < 0.03
    assert res['num_test'] != res['num_users']


@pytest.mark.parametrize('protocol, facts', [('book', BOOK_NEUMF),
                                             ('ncf', NCF)])
def test_ranking_runs_use_the_published_settings(wide_dir, monkeypatch,
                                                  protocol, facts):
    import d2l_recsys as rs
    from d2l_recsys.runs import run_ranking, task_run
    from d2l_recsys.tasks import RankingTask, ranking
    spy = Spy(monkeypatch, task_run, 'train_loop')
    setups = []
    real_setup = RankingTask.setup

    def setup(*args, **kwargs):
        setups.append(real_setup(*args, **kwargs))
        return setups[-1]
    monkeypatch.setattr(RankingTask, 'setup', setup)
    evaluators = []

    def protocol_evaluator(*args, **kwargs):
        evaluators.append(real(*args, **kwargs))
        return evaluators[-1]
    real = ranking.protocol_evaluator
    monkeypatch.setattr(ranking, 'protocol_evaluator', protocol_evaluator)
    options = {} if protocol == 'ncf' else dict(protocol='book')
    run_ranking(data_dir=wide_dir, devices='cpu', verbose=False, **options)
    seen = spy.seen
    assert (seen['optimizer'], seen['lr'], seen['wd'], seen['num_epochs'],
            seen['steps'][0]) == (facts['optimizer'], facts['lr'],
                                  facts['wd'], facts['epochs'],
                                  facts['batch_size'])
    (made,) = setups
    assert type(made.loss) is {'bpr': rs.BPRLoss,
                               'bce': rs.PointwiseBCELoss}[facts['loss']]
    assert seen['train_iter'].num_negatives == facts['num_negatives']
    net = seen['net']
    assert isinstance(net, rs.NeuMF)
    assert net.P.weight.shape[1] == facts['num_factors']
    assert net.U.weight.shape[1] == facts.get('mlp_factors',
                                              facts['num_factors'])
    assert [layer.weight.shape[0] for layer in net.mlp] == \
        facts['nums_hiddens']
    (test_eval,) = evaluators
    assert test_eval.top_k == facts['top_k']
    if protocol == 'ncf':
        assert test_eval.test_negatives.shape[1] == \
            facts['num_test_negatives']
