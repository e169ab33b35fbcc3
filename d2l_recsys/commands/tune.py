"""Random search for one model, every trial chosen on validation data carved
from the training data (early stopping on it); a trial never reads the test
data.  Then the best configuration is trained once more and scored on the
test data once (a --train-file without --test-file: not scored).  Writes
DIR/leaderboard.json, DIR/leaderboard.html and DIR/best/, and prints the
command line that reproduces the best run.  With --folds K (rating models),
one search per fold into DIR/fold-k/, each on validation carved from fold
k's training part and scored on its test part (--folds 5 on ML-100K: its
own uk.base and uk.test).  A stopped search
resumes with --resume: the trials already in DIR/trials/ are not run
again.  A folder that holds a search is otherwise refused (--overwrite
starts it over)."""
import shlex
import sys

from .. import cli, registry
from ..config import RankingConfig, RatingConfig
from ..config_ext import FeatureConfig
from ..defaults import TUNING
from ..parse import positive_int
from ..tuning import tune, tune_folds

# The data options of a search, declared on the config fields.
DATA = ('data_dir', 'dataset', 'train_file', 'test_file', 'ratings',
        'columns', 'split')
PROTOCOL = ('protocol', 'num_test_negatives')
FIELDS = ('ctr_dir', 'features', 'label_threshold')


def _summary(board, out):
    if board['test'] is None:
        scored = 'test: none given (the best configuration is not scored)'
    else:
        shown = {k: v for k, v in board['test'].items()
                 if isinstance(v, float) and not k.startswith('valid_')
                 and ('test' in k or '@' in k or k in ('auc', 'log_loss'))}
        scored = 'test (scored once): ' + ', '.join(
            f'{k} {v:.4f}' for k, v in shown.items())
    return '\n'.join([
        f"best of {len(board['trials'])} trials: {board['metric']} "
        f"{board['best']['value']:.4f} {board['best']['config']}", scored,
        f"reproduce: {board['command']}",
        f"({board['made']['seconds'] / 60:.1f} min) -> "
        f"{out}/leaderboard.json"])


def search(args, command):
    fixed = dict(data_dir=args.data_dir, dataset=args.dataset,
                 train_file=args.train_file, test_file=args.test_file,
                 ratings=args.ratings, columns=args.columns, seed=args.seed,
                 devices=args.devices, epochs=args.max_epochs,
                 early_stop=args.patience)
    fixed = {k: v for k, v in fixed.items() if v is not None}
    # the options of the tune command the model's config has
    fields = registry.get(args.model).config.__dataclass_fields__
    for key in ('split',) + PROTOCOL + FIELDS:
        if key in fields and getattr(args, key) is not None:
            fixed[key] = getattr(args, key)
    if args.folds:
        boards = tune_folds(args.model, args.folds, args.out, fixed,
                            trials=args.trials, jobs=args.jobs,
                            seed=args.seed, verbose=not args.quiet,
                            resume=args.resume, overwrite=args.overwrite,
                            command=command)
        return '\n'.join(f'fold {k}: ' + _summary(b, f'{args.out}/fold-{k}')
                          for k, b in enumerate(boards, 1))
    board = tune(args.model, args.trials, args.jobs, args.out, args.seed,
                 fixed, verbose=not args.quiet, resume=args.resume,
                 overwrite=args.overwrite, command=command)
    return _summary(board, args.out)


def main(argv=None, prog=None):
    p = cli.Parser(prog=prog, description=__doc__)
    p.add_argument('--model', required=True,
                   choices=[n for n in registry.names()
                            if registry.get(n).space],
                   help='dmf: dot-product MF for ranking (Rendle et al. '
                   '2020)')
    p.add_argument('--out', required=True, help='folder of the trials, '
                   'the leaderboard and the final run')
    p.add_argument('--trials', type=positive_int,
                   default=TUNING['trials'], help='configurations to try')
    p.add_argument('--jobs', type=positive_int, default=1,
                   help='trials run at once, one process each')
    p.add_argument('--seed', type=int, default=0,
                   help='seeds the search and every run')
    p.add_argument('--max-epochs', type=positive_int,
                   default=TUNING['max_epochs'], help='epochs per trial, at '
                   'most')
    p.add_argument('--patience', type=positive_int,
                   default=TUNING['patience'], help='early stopping: epochs '
                   'without a better validation metric')
    p.add_argument('--folds', type=positive_int, metavar='K',
                   help='rating models: nested search, one per fold (run '
                   "options --folds K --fold k; 5 on ML-100K: its own "
                   'u1..u5 files), into OUT/fold-k/')
    p.add_argument('--devices', default='cpu',
                   help='auto | cpu | cpu:K | gpu | gpu:0,1')
    p.add_argument('--quiet', action='store_true',
                   help='no line per trial')
    p.add_argument('--resume', action='store_true',
                   help='continue the search in --out (its finished trials '
                   'are not run again)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace the search in --out')
    cli.add_config_options(p, RatingConfig, DATA)
    cli.add_config_options(p, RankingConfig, PROTOCOL)
    cli.add_config_options(p, FeatureConfig, FIELDS)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = ' '.join([prog or 'd2l-recsys tune', shlex.join(argv)])
    return cli.run(p, argv, lambda args: search(args, command))
