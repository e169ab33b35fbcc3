"""The ``d2l-recsys`` command: ``d2l-recsys COMMAND [options]``, one module
per command, each with ``main(argv, prog)``.  The scripts in ``scripts/``
call the same functions."""
import importlib
import os
import sys

COMMANDS = {
    'train': 'train a model and evaluate it (MODEL: mf, autorec, neumf, '
             'gmf, mlp, dmf, itempop)',
    'tune': 'random search on validation data, then one test run',
    'recommend': 'top-k items for a user, or for every user into a CSV',
    'predict': 'score a CSV of (user, item) pairs',
    'export': 'export a run for serving without its data files',
    'serve': 'serve a run or an export over HTTP',
    'reproduce': "the book's and papers' numbers, over several seeds",
    'synthetic': "a synthetic data set at a MovieLens release's shape",
}


def _usage():
    width = max(map(len, COMMANDS))
    lines = [f'  {name:<{width}}  {text}' for name, text in COMMANDS.items()]
    return ('usage: d2l-recsys COMMAND [options]   (d2l-recsys COMMAND '
            '--help for its options)\n\ncommands:\n' + '\n'.join(lines))


def restart_with(env, argv=None):
    """Start this process again, once, with the variables of ``env`` that
    are not set yet: what must be set before MXNet loads (its OpenMP
    threads) or before the process starts (glibc's tunables).  Returns
    without restarting when every one is set already, and when the process
    was not started with the command's arguments ``argv`` (a command called
    from Python code, which must not replace its caller)."""
    missing = {k: v for k, v in env.items() if k not in os.environ}
    argv = sys.argv[1:] if argv is None else list(argv)
    started_so = sys.argv[len(sys.argv) - len(argv):] == argv
    if not missing or not started_so or not sys.platform.startswith('linux'):
        return
    os.environ.update(missing)
    os.execv(sys.executable, [sys.executable] + sys.orig_argv[1:])


def main(argv=None):
    """Run ``d2l-recsys COMMAND ...``.

    Returns:
        The command's exit code; 2 for an unknown command.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f'd2l-recsys: error: unknown command {name!r}\n{_usage()}',
              file=sys.stderr)
        return 2
    module = importlib.import_module(f'{__name__}.{name}')
    return module.main(rest, prog=f'd2l-recsys {name}')
