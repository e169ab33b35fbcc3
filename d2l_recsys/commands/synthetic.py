"""Write a synthetic data set with a known answer.  Like a MovieLens
release: its shape (users, items, ratings) and native files, ratings from a
planted low-rank model with biases and noise, and DIR/synthetic.json with
floor_rmse, the RMSE no model can beat on average; read it back with
--data-dir DIR like the release itself.  Like the book's CTR data (--like
ctr): train.csv and test.csv in its format, clicks drawn from a planted
factorization machine, and DIR/synthetic_ctr.json with bayes_auc, the AUC
no model can beat on average; read it back with --ctr-dir DIR."""
import time

from .. import cli
from ..parse import positive_int
from ..data.synthetic import SHAPES, generate
from ..data.synthetic_ctr import DEFAULTS as CTR_DEFAULTS
from ..data.synthetic_ctr import make_ctr


def make(args):
    start = time.perf_counter()
    if args.like == 'ctr':
        for name in ('users', 'items', 'ratings'):
            if getattr(args, name) is not None:
                raise ValueError(f'--{name}: CTR data have rows of fields, '
                                 'not users and items; give --rows')
        rows = args.rows or CTR_DEFAULTS['num_rows']
        test = max(1, round(rows * CTR_DEFAULTS['num_test'] /
                            CTR_DEFAULTS['num_rows']))
        info = make_ctr(args.out, num_rows=rows, num_test=test,
                        seed=args.seed)
        return (f"{rows - test} training and {test} test rows of "
                f"{info['num_fields']} fields, Bayes AUC on test "
                f"{info['bayes_auc']['test']:.4f} "
                f"({time.perf_counter() - start:.1f} s)  -> {args.out}")
    if args.rows is not None:
        raise ValueError('--rows: the size of CTR data (--like ctr); a '
                         'MovieLens shape takes --ratings')
    info = generate(args.like, args.out, seed=args.seed,
                    num_users=args.users, num_items=args.items,
                    num_ratings=args.ratings)
    return (f"{info['num_ratings']} ratings of {info['num_users']} users on "
            f"{info['num_items']} items like {args.like}, floor RMSE "
            f"{info['floor_rmse']:.4f} ({time.perf_counter() - start:.1f} s)"
            f"  -> {args.out}")


def main(argv=None, prog=None):
    p = cli.Parser(prog=prog, description=__doc__)
    p.add_argument('--like', required=True, choices=list(SHAPES) + ['ctr'],
                   help='the release whose shape and files to imitate, or '
                   "the book's CTR data")
    p.add_argument('--out', required=True, help='folder to write')
    p.add_argument('--seed', type=int, default=0, help='seeds the '
                   'generator')
    p.add_argument('--users', type=positive_int,
                   help="number of users (default: the release's)")
    p.add_argument('--items', type=positive_int,
                   help="number of items (default: the release's)")
    p.add_argument('--ratings', type=positive_int,
                   help="number of ratings (default: the release's)")
    p.add_argument('--rows', type=positive_int,
                   help='--like ctr: rows in all, a sixth of them the test '
                   "file (default: the book's 18,000)")
    return cli.run(p, argv, make)
