"""Export a saved run for serving without MovieLens or this package: the
hybridized network (model-symbol.json, model-0000.params, loadable with
mxnet.gluon.SymbolBlock.imports after mx.npx.set_np()), the ids, titles,
training interactions and popularity, and export.json describing it all."""

from .. import cli
from ..serving import load_predictor, write_export


def export(args):
    info = write_export(load_predictor(args.model_dir, args.data_dir),
                        args.out, overwrite=args.overwrite)
    return (f"{info['model']} exported ({info['num_users']} users, "
            f"{info['num_items']} items; inputs {', '.join(info['inputs'])})"
            f" -> {args.out}")


def main(argv=None, prog=None):
    p = cli.Parser(prog=prog, description=__doc__)
    cli.add_model_dir(p, 'run folder of a training script')
    p.add_argument('--out', required=True,
                   help='export folder to write (one that holds an export '
                   'is refused without --overwrite)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace the export in --out')
    return cli.run(p, argv, export)

