#!/usr/bin/env python
"""Print a user's top-k movies from a ranking model saved by train_neumf.py,
skipping every movie the user has already rated."""
import sys

from d2l_recsys import cli
from d2l_recsys.experiments import recommend_for


def main(argv=None):
    p = cli.Parser(description=__doc__)
    p.add_argument('--model-dir', required=True,
                   help='output folder of scripts/train_neumf.py')
    p.add_argument('--user', type=int, required=True,
                   help='MovieLens user id')
    p.add_argument('-k', type=cli.positive_int, default=10)
    p.add_argument('--data-dir', help='MovieLens folder, if not the one the '
                   'model was trained on')
    p.add_argument('--devices', default='cpu')
    args = p.parse_args(argv)
    try:
        recs = recommend_for(args.model_dir, args.user, args.k,
                             args.data_dir, args.devices)
    except (ValueError, OSError) as e:
        return cli.fail(p.prog, e)
    print(f'top {len(recs)} for user {args.user}:')
    for r in recs:
        print(f"{r['rank']:3d}. {r['title'] or 'item ' + str(r['item_id'])}"
              f"  (item {r['item_id']}, score {r['score']:.3f})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
