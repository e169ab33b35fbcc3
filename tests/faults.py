"""Run the ``d2l-recsys`` command with faults installed (tests/test_faults_*.py).

    python tests/faults.py SPEC [SPEC ...] -- COMMAND [options]

installs each SPEC, then runs ``d2l_recsys.commands.main([COMMAND,
options...])`` in this process, as ``d2l-recsys COMMAND options`` would:

``none``
    nothing (a plain run through the same launcher).
``trace:FILE``
    append one line per event to FILE: ``step N`` after the N-th optimizer
    step, ``write N PATH`` at the N-th ``atomic_write``, ``rename N PATH``
    at the N-th ``os.rename``/``os.replace`` (its destination).
``kill:step:N``
    SIGKILL this process right after the N-th ``gluon.Trainer.step``.
``kill:write:N:MOMENT[:PATTERN]``
    SIGKILL at the N-th ``d2l_recsys.files.atomic_write`` (counting only the
    ones whose destination matches the regular expression PATTERN, when
    given) at MOMENT: ``before`` it writes anything, ``tmp`` once the
    temporary file is written whole but not renamed, ``after`` it returned
    (renamed into place).
``kill:rename:N:MOMENT[:PATTERN]``
    SIGKILL at the N-th ``os.rename``/``os.replace`` (whose destination
    matches PATTERN), ``before`` or ``after`` it.
``kill:call:MODULE.NAME:N:MOMENT``
    SIGKILL ``before`` or ``after`` the N-th call of the function NAME of
    the module MODULE (replaced in that module: the calls that look it up
    there), e.g. ``kill:call:d2l_recsys.serving.export._exchange:1:after``.
``fail:PATTERN:N:ERRNO``
    the N-th ``atomic_write`` whose destination matches PATTERN raises
    ``OSError(ERRNO, strerror, path)`` (ERRNO: ``ENOSPC``, ``EIO``, ... or
    a number) while writing: half of the temporary file is written, then
    the error is raised, as a full disk or a failing device would.
``wait:step:N:FILE``, ``wait:write:N:FILE[:PATTERN]``,
``wait:call:MODULE.NAME:N:FILE``
    after the N-th step / before the N-th (matching) write / before the
    N-th call, wait until FILE exists.

Each kill, failure or wait first prints one line ``faults: ...`` to stderr.
``atomic_write`` is replaced in every ``d2l_recsys`` module that holds it
(``from .files import atomic_write`` binds it at import: the modules that
do are imported first, then patched); the writers of ``d2l_recsys.files``
(``write_text``, ``write_json``) look it up there when called, and
``save_model`` and ``save_checkpoint`` in their own modules, patched too.  So every file the package writes goes
through the patched function.
"""
import errno
import importlib
import os
import re
import signal
import sys
import time

# Modules that bind atomic_write at import (and their importers): imported
# before patching, so that each holds the patched function.
HOLDERS = ('d2l_recsys.files', 'd2l_recsys.checkpoints',
           'd2l_recsys.run_folder', 'd2l_recsys.plot', 'd2l_recsys.serving',
           'd2l_recsys.serving.batch', 'd2l_recsys.serving.export',
           'd2l_recsys.runs', 'd2l_recsys.tuning', 'd2l_recsys.commands')


def say(text):
    sys.stderr.write(f'faults: {text}\n')
    sys.stderr.flush()


def kill(what):
    say(f'SIGKILL at {what}')
    os.kill(os.getpid(), signal.SIGKILL)


def wait(what, path):
    say(f'waiting at {what} for {path}')
    while not os.path.exists(path):
        time.sleep(0.02)


class Rule:
    """One fault: what it does, on which event, at which count."""

    def __init__(self, action, event, n, moment=None, pattern=None,
                 code=None, path=None, target=None):
        self.action, self.event, self.n = action, event, n
        self.moment, self.code, self.path = moment, code, path
        self.target = target            # MODULE.NAME of a call
        self.pattern = re.compile(pattern) if pattern else None
        self.count = 0

    def due(self, event, path=None):
        """Count one event; whether this is the rule's n-th."""
        if event != self.event or (self.pattern is not None and
                                   not self.pattern.search(path)):
            return False
        self.count += 1
        return self.count == self.n


def parse(spec):
    """``(trace file or None, Rule or None)`` of one SPEC."""
    parts = spec.split(':')
    moments = dict(write=('before', 'tmp', 'after'),
                   rename=('before', 'after'))
    if spec == 'none':
        return None, None
    if parts[0] == 'trace' and len(parts) == 2:
        return parts[1], None
    if parts[:2] == ['kill', 'step'] and len(parts) == 3:
        return None, Rule('kill', 'step', int(parts[2]))
    if parts[0] == 'kill' and parts[1] in moments and len(parts) in (4, 5) \
            and parts[3] in moments[parts[1]]:
        return None, Rule('kill', parts[1], int(parts[2]), parts[3],
                          parts[4] if len(parts) == 5 else None)
    if parts[:2] == ['kill', 'call'] and len(parts) == 5 and \
            parts[4] in ('before', 'after'):
        return None, Rule('kill', 'call', int(parts[3]), parts[4],
                          target=parts[2])
    if parts[0] == 'fail' and len(parts) == 4:
        code = int(parts[3]) if parts[3].isdigit() else \
            getattr(errno, parts[3], None)
        if code is not None:
            return None, Rule('fail', 'write', int(parts[2]), 'write',
                              parts[1], code=code)
    if parts[0] == 'wait' and parts[1] == 'step' and len(parts) == 4:
        return None, Rule('wait', 'step', int(parts[2]), path=parts[3])
    if parts[:2] == ['wait', 'call'] and len(parts) == 5:
        return None, Rule('wait', 'call', int(parts[3]), 'before',
                          path=parts[4], target=parts[2])
    if parts[0] == 'wait' and parts[1] == 'write' and len(parts) in (4, 5):
        return None, Rule('wait', 'write', int(parts[2]), 'before',
                          parts[4] if len(parts) == 5 else None,
                          path=parts[3])
    raise SystemExit(f'faults: {spec!r}: not a fault (see tests/faults.py)')


class Faults:
    """The installed faults, their counters and the trace."""

    def __init__(self, specs):
        self.trace, self.rules = None, []
        self.counts = dict(step=0, write=0, rename=0, call=0)
        for spec in specs:
            trace, rule = parse(spec)
            self.trace = trace or self.trace
            if rule:
                self.rules.append(rule)

    def event(self, event, path=None):
        """Count and trace one event; the rules due at it, by moment."""
        self.counts[event] += 1
        n = self.counts[event]
        if self.trace:
            with open(self.trace, 'a', encoding='utf-8') as f:
                f.write(f'{event} {n}' + (f' {path}' if path else '') + '\n')
        return n, [r for r in self.rules if r.due(event, path)]

    @staticmethod
    def act(rules, moment, what):
        for rule in rules:
            if rule.moment != moment:
                continue
            if rule.action == 'kill':
                kill(what)
            elif rule.action == 'wait':
                wait(what, rule.path)

    # --- the patched functions ------------------------------------------
    def step(self):
        n, rules = self.event('step')
        self.act(rules, None, f'step {n}')

    def atomic_write(self, original, path, write):
        path = os.fspath(path)
        n, rules = self.event('write', path)
        what = f'write {n} ({{}}) of {path}'
        self.act(rules, 'before', what.format('before'))
        failing = [r.code for r in rules if r.action == 'fail']

        def wrapped(tmp):
            write(tmp)
            if failing:
                with open(tmp, 'r+b') as f:
                    f.truncate(os.path.getsize(tmp) // 2)
                say(f'{errno.errorcode[failing[0]]} at '
                    f'{what.format("write")}')
                raise OSError(failing[0], os.strerror(failing[0]), path)
            self.act(rules, 'tmp', what.format('tmp'))
        original(path, wrapped)
        self.act(rules, 'after', what.format('after'))

    def rename(self, original, src, dst):
        n, rules = self.event('rename', os.fspath(dst))
        what = f'rename {n} ({{}}) of {os.fspath(src)} to {os.fspath(dst)}'
        self.act(rules, 'before', what.format('before'))
        original(src, dst)
        self.act(rules, 'after', what.format('after'))

    def call(self, name, original, *args, **kwargs):
        rules = [r for r in self.rules if r.event == 'call' and
                 r.target == name and r.due('call')]
        self.counts['call'] += 1
        what = f'call {name} ({{}})'
        self.act(rules, 'before', what.format('before'))
        result = original(*args, **kwargs)
        self.act(rules, 'after', what.format('after'))
        return result

    # --- installing them -------------------------------------------------
    def install(self):
        import mxnet.gluon
        for name in HOLDERS:
            importlib.import_module(name)
        original = sys.modules['d2l_recsys.files'].atomic_write

        def atomic_write(path, write):
            return self.atomic_write(original, path, write)
        for name, module in list(sys.modules.items()):
            if name.startswith('d2l_recsys') and \
                    getattr(module, 'atomic_write', None) is original:
                module.atomic_write = atomic_write

        step = mxnet.gluon.Trainer.step

        def counted_step(trainer, *args, **kwargs):
            result = step(trainer, *args, **kwargs)
            self.step()
            return result
        mxnet.gluon.Trainer.step = counted_step

        for rule in self.rules:
            if rule.event == 'call':
                module, _, attr = rule.target.rpartition('.')
                module = importlib.import_module(module)
                function = getattr(module, attr)

                def called(*args, _name=rule.target, _function=function,
                           **kwargs):
                    return self.call(_name, _function, *args, **kwargs)
                setattr(module, attr, called)

        for name in ('rename', 'replace'):
            real = getattr(os, name)

            def renamed(src, dst, *args, _real=real, **kwargs):
                return self.rename(
                    lambda s, d: _real(s, d, *args, **kwargs), src, dst)
            setattr(os, name, renamed)


def main(argv):
    if '--' not in argv:
        raise SystemExit(__doc__)
    cut = argv.index('--')
    specs, args = argv[:cut], argv[cut + 1:]
    Faults(specs).install()
    # the command sees its own arguments, as after `d2l-recsys`
    sys.argv = [sys.argv[0]] + args
    from d2l_recsys.commands import main as command
    return command(args)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
