"""Top-k movies from any saved model (MF, AutoRec, GMF, MLP, NeuMF, ItemPop,
Caser, ...), from a run folder or an export folder, leaving out the movies
the user has rated.  One user (--user) prints a titled list; --all-users
writes a CSV (user,rank,item,score,title) for every user.  A sequence-aware
model (Caser) reads the user's latest training items, or those of --recent
(oldest first, at least the model's L; the latest L are read)."""

from .. import cli
from ..parse import positive_int
from ..serving import load_predictor, write_all_recommendations


def _print_user(predictor, args):
    recent = None if args.recent is None else \
        [w.strip() for w in args.recent.split(',') if w.strip()]
    recs = predictor.recommend(args.user, args.k, args.cold_start,
                               args.exclude, recent)
    known = predictor.knows_user(args.user)
    if not known:
        print(f'user {args.user} is unknown to the model: cold start, the '
              'most popular movies (score = training interactions)')
    after = f" after items {', '.join(recent)}" if recent and known else ''
    print(f'top {len(recs)} for user {args.user}{after}:')
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
    p.add_argument('--recent', metavar='ITEMS',
                   help='sequence-aware models (caser): the recent items to '
                   'recommend after, comma-separated ids, oldest first, at '
                   "least the model's L (e.g. 12,40,7,9,3); default: the "
                   "user's latest training items")
    p.add_argument('--out', help='CSV file of --all-users')
    p.add_argument('--quiet', action='store_true',
                   help='no progress display with --all-users')
    p.add_argument('--data-dir', help='MovieLens folder, if not the one the '
                   'model was trained on (run folders only)')
    args = p.parse_args(argv)
    if args.all_users and not args.out:
        p.error('--all-users needs --out FILE.csv')
    if args.all_users and args.recent is not None:
        p.error('--recent goes with --user (one user\'s recent items)')
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

