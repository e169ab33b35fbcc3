"""Shared command-line options and error handling of the scripts."""
import argparse
import datetime
import os
import sys


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) and exit code 2."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message}\n')


def _number(kind, test, expected):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'{text!r} is not {expected}') from None
        if not test(value):
            raise argparse.ArgumentTypeError(f'{text} is not {expected}')
        return value
    return parse


positive_int = _number(int, lambda v: v >= 1, 'a positive integer')
positive_float = _number(float, lambda v: v > 0, 'a positive number')
nonneg_float = _number(float, lambda v: v >= 0, 'a number >= 0')
ratio = _number(float, lambda v: 0 <= v < 1, 'a number in [0, 1)')


def base_parser(description, *, epochs=None, batch_size=None, lr=None,
                wd=None):
    """Options every training script shares (None: the run's default)."""
    p = Parser(description=description,
               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--data-dir', help='MovieLens folder or zip (default: '
                   '$D2L_RECSYS_DATA, else download through d2l)')
    p.add_argument('--train-file', help='ratings in u.data format to train '
                   'on (with --test-file; replaces the split)')
    p.add_argument('--test-file', help='held-out ratings in u.data format')
    p.add_argument('--epochs', type=positive_int, default=epochs)
    p.add_argument('--lr', type=positive_float, default=lr)
    p.add_argument('--wd', type=nonneg_float, default=wd,
                   help='weight decay')
    p.add_argument('--batch-size', type=positive_int, default=batch_size)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--devices', default='auto',
                   help='auto | cpu | cpu:K | gpu | gpu:0,1')
    p.add_argument('--out', help='output folder (default: runs/NAME-TIME)')
    p.add_argument('--quiet', action='store_true',
                   help='no per-epoch progress lines')
    return p


def rating_parser(description, *, split, epochs, batch_size, lr=0.002,
                  wd=1e-5):
    """The rating scripts' options, with the book's defaults."""
    p = base_parser(description, epochs=epochs, batch_size=batch_size, lr=lr,
                    wd=wd)
    p.add_argument('--split', choices=['random', 'seq-aware'], default=split)
    p.add_argument('--test-ratio', type=ratio, default=0.1,
                   help='test fraction of the random split')
    return p


def rating_summary(results):
    return f"test RMSE {results['test_rmse']:.4f}"


def fail(prog, error):
    """A one-line error on stderr; the exit code of a bad input."""
    print(f'{prog}: error: {error}', file=sys.stderr)
    return 2


def main(parser, run, name, argv=None, summary=rating_summary):
    """Parse, call ``run(**options)``, print a summary; errors -> one line on
    stderr and exit code 2."""
    args = vars(parser.parse_args(argv))
    verbose = not args.pop('quiet')
    if not args['out']:
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
        args['out'] = os.path.join('runs', f'{name}-{stamp}')
    try:
        results = run(**args, verbose=verbose)
    except (ValueError, OSError, FloatingPointError) as e:
        return fail(parser.prog, e)
    secs = results['seconds']
    print(f"{summary(results)}  (data {secs['data']:.1f} s, train+eval "
          f"{secs['train']:.1f} s, total {secs['total']:.1f} s)  -> "
          f"{args['out']}")
    return 0
