"""Top-k movies from any saved model (MF, AutoRec, GMF, MLP, NeuMF, ItemPop),
from a run folder or an export folder, leaving out the movies the user has
rated.  One user (--user) prints a titled list; --all-users writes a CSV
(user,rank,item,score,title) for every user."""

from .. import cli
from ..parse import positive_int
from ..serving import load_predictor, write_all_recommendations


def _print_user(predictor, args):
    recs = predictor.recommend(args.user, args.k, args.cold_start,
                               args.exclude)
    if not predictor.knows_user(args.user):
        print(f'user {args.user} is unknown to the model: cold start, the '
              'most popular movies (score = training interactions)')
    print(f'top {len(recs)} for user {args.user}:')
    for r in recs:
        print(f"{r['rank']:3d}. {r['title'] or 'item ' + str(r['item'])}"
              f"  (item {r['item']}, score {r['score']:.3f})")


def main(argv=None, prog=None):
    p = cli.Parser(prog=prog, description=__doc__)
    p.add_argument('--model-dir', required=True,
                   help='run folder of a training script, or an export')
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument('--user', help="a user's id in the data (MovieLens "
                     'or your own ratings file)')
    who.add_argument('--all-users', action='store_true',
                     help='every user, into the CSV file --out')
    p.add_argument('-k', type=positive_int, default=10,
                   help='recommendations per user')
    p.add_argument('--cold-start', choices=['popular'],
                   help='an unknown user gets the most popular movies '
                   'instead of an error')
    p.add_argument('--exclude', choices=['rated', 'train'], default='rated',
                   help="leave out every rated movie, or only the training "
                   "ones (as the ranking evaluation)")
    p.add_argument('--out', help='CSV file of --all-users')
    p.add_argument('--quiet', action='store_true',
                   help='no progress display with --all-users')
    p.add_argument('--data-dir', help='MovieLens folder, if not the one the '
                   'model was trained on (run folders only)')
    args = p.parse_args(argv)
    if args.all_users and not args.out:
        p.error('--all-users needs --out FILE.csv')
    try:
        predictor = load_predictor(args.model_dir, args.data_dir)
        if not args.all_users:
            _print_user(predictor, args)
            return 0
        users, rows = write_all_recommendations(
            predictor, args.out, args.k, args.exclude, args.quiet)
    except (ValueError, OSError) as e:
        return cli.fail(p.prog, e)
    print(f'{rows} recommendations for {users} users -> {args.out}')
    return 0

