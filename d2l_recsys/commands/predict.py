"""Score a CSV of (user, item) pairs with any saved model: copies the file
and adds a `prediction` column (a predicted rating for MF and AutoRec, a
score for the ranking models), empty where the user or the movie is unknown
to the model."""

import os

from .. import cli
from ..serving import load_predictor, predict_file


def predict(args):
    if os.path.exists(args.out) and not args.overwrite:
        raise ValueError(f'{args.out}: exists; give --overwrite to replace '
                         'it, or another file')
    predictor = load_predictor(args.model_dir, args.data_dir)
    pairs, unknown = predict_file(predictor, args.pairs, args.out)
    return (f'{pairs} pairs scored, {unknown} with an unknown user or movie '
            f'(empty prediction) -> {args.out}')


def main(argv=None, prog=None):
    p = cli.Parser(prog=prog, description=__doc__)
    cli.add_model_dir(p, 'run folder of a training script, or an export '
                      '(--data-dir: run folders only)')
    p.add_argument('--pairs', required=True,
                   help='CSV with a header naming user and item (the '
                   "data's own ids)")
    p.add_argument('--out', required=True, help='CSV file to write (an '
                   'existing file is refused without --overwrite)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace the file --out names')
    return cli.run(p, argv, predict)

