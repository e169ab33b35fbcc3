#!/usr/bin/env python
"""Run every published configuration (MF, AutoRec, NeuMF under the book's
and the NCF protocol; ML-1M rows with --ml1m-dir) over several seeds, and
write results/REPRODUCTION.md, reproduction.json and reproduction.html."""
import sys

from d2l_recsys import cli
from d2l_recsys.reproduction import reproduce, rewrite_report


def run_report(args):
    if args.from_json:
        report = rewrite_report(args.from_json, args.out, args.readme)
    else:
        report = reproduce(args.data_dir, args.seeds, args.out,
                           args.ml1m_dir, args.quick, readme=args.readme,
                           tuning_dir=args.tuning_dir,
                           only_tuned=args.only_tuned,
                           rows_matching=args.rows)
    if args.from_json:
        done = f'rewritten from {args.from_json}'
    elif args.only_tuned:
        done = (f"{len(report['tuned'])} tuned rows in "
                f"{report['tuned_seconds'] / 60:.1f} min")
    else:
        done = f"{len(report['rows'])} rows in {report['seconds'] / 60:.1f} min"
    return f'{done} -> {args.out}/REPRODUCTION.md'


def main(argv=None):
    p = cli.Parser(description=__doc__)
    data = p.add_argument_group('data and runs')
    data.add_argument('--data-dir', help='MovieLens 100K (default: '
                      '$D2L_RECSYS_DATA, else download through d2l)')
    data.add_argument('--ml1m-dir',
                      help="MovieLens 1M folder, for the papers' own settings")
    data.add_argument('--seeds', type=cli.positive_int, default=5,
                      help='runs per row (seeds 0..N-1)')
    data.add_argument('--quick', action='store_true', help='one or two '
                      'epochs per run: checks the pipeline, reproduces '
                      'nothing')
    part = p.add_argument_group('which rows')
    part.add_argument('--rows', metavar='TEXT',
                      help='rerun only the rows whose name contains TEXT; '
                      'keep the others from OUT/reproduction.json (tuned '
                      'rows: the leaderboard names, e.g. gmf_ncf)')
    part.add_argument('--tuning-dir', metavar='DIR', help='leaderboards of '
                      'scripts/tune.py (NAME/leaderboard.json): adds the '
                      'tuned section')
    part.add_argument('--only-tuned', action='store_true',
                      help='keep the book-settings rows of '
                      'OUT/reproduction.json, run the tuned section only')
    report = p.add_argument_group('the report')
    report.add_argument('--out', default='results', help='folder of the '
                        'report')
    report.add_argument('--readme', metavar='README.md', help='also '
                        'regenerate the reproduction table of this README')
    report.add_argument('--from-json', metavar='FILE',
                        help='run nothing: rewrite REPRODUCTION.md (and '
                        '--readme) from a saved reproduction.json')
    return cli.run(p, argv, run_report)


if __name__ == '__main__':
    sys.exit(main())
