"""Write a synthetic MovieLens data set with a known answer: a release's
shape (users, items, ratings) and native files, ratings from a planted
low-rank model with biases and noise, and DIR/synthetic.json with
floor_rmse, the RMSE no model can beat on average.  Read it back with
--data-dir DIR like the release itself."""
import time

from .. import cli
from ..parse import positive_int
from ..data.synthetic import SHAPES, generate


def make(args):
    start = time.perf_counter()
    info = generate(args.like, args.out, seed=args.seed,
                    num_users=args.users, num_items=args.items,
                    num_ratings=args.ratings)
    return (f"{info['num_ratings']} ratings of {info['num_users']} users on "
            f"{info['num_items']} items like {args.like}, floor RMSE "
            f"{info['floor_rmse']:.4f} ({time.perf_counter() - start:.1f} s)"
            f"  -> {args.out}")


def main(argv=None, prog=None):
    p = cli.Parser(prog=prog, description=__doc__)
    p.add_argument('--like', required=True, choices=list(SHAPES),
                   help='the release whose shape and files to imitate')
    p.add_argument('--out', required=True, help='folder to write')
    p.add_argument('--seed', type=int, default=0, help='seeds the '
                   'generator')
    p.add_argument('--users', type=positive_int,
                   help="number of users (default: the release's)")
    p.add_argument('--items', type=positive_int,
                   help="number of items (default: the release's)")
    p.add_argument('--ratings', type=positive_int,
                   help="number of ratings (default: the release's)")
    return cli.run(p, argv, make)

