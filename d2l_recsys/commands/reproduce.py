"""Run every declared configuration (d2l_recsys/experiments/rows.py: MF,
AutoRec, NeuMF, Caser, FM and DeepFM with the book's or the papers'
settings; ML-1M rows with --ml1m-dir; the book's CTR data with --ctr-dir)
over several seeds, and write results/REPRODUCTION.md, reproduction.json
and reproduction.html.  Each row records its date, commit, machine and run
time; rows kept from an earlier report (--rows, --only-tuned) must come
from the same commit unless --allow-mixed-commits is given."""
import shlex
import sys

from .. import cli
from ..parse import positive_int
from ..experiments.report import rewrite_report
from ..experiments.reproduce import reproduce


def run_report(args, argv, prog):
    if args.from_json:
        rewrite_report(args.from_json, args.out, args.readme)
        return f'rewritten from {args.from_json} -> {args.out}/REPRODUCTION.md'
    report = reproduce(args.data_dir, args.seeds, args.out, args.ml1m_dir,
                       args.ctr_dir, args.quick, readme=args.readme,
                       tuning_dir=args.tuning_dir, only_tuned=args.only_tuned,
                       rows_matching=args.rows,
                       allow_mixed=args.allow_mixed_commits,
                       tuned_seeds=args.tuned_seeds,
                       overwrite=args.overwrite,
                       command=' '.join([prog, shlex.join(argv)]))
    return (f"{len(report['rows'])} rows and {len(report['tuned'])} tuned "
            f"rows in {report['seconds'] / 60:.1f} min -> "
            f"{args.out}/REPRODUCTION.md")


def main(argv=None, prog='d2l-recsys reproduce'):
    argv = sys.argv[1:] if argv is None else argv
    p = cli.Parser(prog=prog, description=__doc__)
    data = p.add_argument_group('data and runs')
    data.add_argument('--data-dir', help='MovieLens 100K (default: '
                      '$D2L_RECSYS_DATA, else download through d2l)')
    data.add_argument('--ml1m-dir',
                      help="MovieLens 1M folder, for the papers' own settings")
    data.add_argument('--ctr-dir', help="the book's CTR data (ctr.zip or "
                      "its folder), for the book's FM and DeepFM settings "
                      'on it')
    data.add_argument('--seeds', type=positive_int, default=5,
                      help='runs per row (seeds 0..N-1)')
    data.add_argument('--tuned-seeds', type=positive_int, metavar='N',
                      help='runs per tuned row (default: --seeds; the '
                      'u1-u5 rows run the five folds once)')
    data.add_argument('--quick', action='store_true', help='one epoch per '
                      'run: checks the pipeline, reproduces nothing')
    part = p.add_argument_group('which rows')
    part.add_argument('--rows', metavar='TEXT', action='append',
                      help='rerun only the rows whose name contains TEXT '
                      '(repeat for several); keep the others from '
                      'OUT/reproduction.json (tuned rows: the leaderboard '
                      'names, e.g. gmf_ncf)')
    part.add_argument('--tuning-dir', metavar='DIR', help='leaderboards of '
                      'd2l-recsys tune (NAME/leaderboard.json, nested: '
                      'NAME/fold-k/leaderboard.json): adds the tuned section')
    part.add_argument('--only-tuned', action='store_true',
                      help='keep the book-settings rows of '
                      'OUT/reproduction.json, run the tuned section only')
    part.add_argument('--overwrite', action='store_true',
                      help='replace the report in --out (its tuning/ '
                      'folder stays)')
    part.add_argument('--allow-mixed-commits', action='store_true',
                      help='keep rows made at another commit (or with other '
                      'uncommitted changes) than this run; the report then '
                      "shows each row's date and commit")
    report = p.add_argument_group('the report')
    report.add_argument('--out', default='results', help='folder of the '
                        'report')
    report.add_argument('--readme', metavar='README.md', help='also '
                        'regenerate the generated tables of this README')
    report.add_argument('--from-json', metavar='FILE',
                        help='run nothing: rewrite REPRODUCTION.md (and '
                        '--readme) from a saved reproduction.json')
    return cli.run(p, argv, lambda args: run_report(args, argv, prog))
