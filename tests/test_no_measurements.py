"""Comments and docstrings state rules, not measurements.

A time or a speed-up measured once goes stale as soon as the code or the
machine changes, and nothing re-checks it where it sits.  The package's and
the scripts' comments and docstrings therefore give the rule a figure
supports and say where the figure lives: a result file in
``bench/results/`` and its section of ``docs/benchmarks.md``, or that
page's section "Figures measured once, without a result file".

Scanned: every comment (``tokenize``) and every docstring (``ast``:
modules, classes, functions, and the string that follows an assignment) of
each module under ``d2l_recsys/`` and ``scripts/``.  Flagged: a number with
a unit of time (``77 ms``, ``3.3 s``, ``400 us``, ``6 minutes``), a ratio
written ``25x`` or ``1.4-2x``, ``3x faster``-style speed-ups, percentages
faster or slower, and the word "measured".  Not flagged: sizes and caps
(``256 MB``, ``1 << 26`` entries), thresholds (``2%`` observed), shapes
(``138,493 x 26,744``) and tested bounds written with a space
(``1.2 x floor_rmse``).  ``ALLOWED`` lists the few phrases that look like
measurements but are definitions, each with its reason.

Mutations tried: putting back "whole 1.5 against chunked 10.5 ms at
ML-100K's shape (n / chunk products 1.1), 77 against 103 ms at ML-10M's" in
``_DecodeAt``'s docstring (``d2l_recsys/models/autorec.py``) fails
``test_comments_and_docstrings_hold_no_measurements``, naming the file,
the line and "10.5 ms"; so do "~3x slower" in ``models/neumf.py``'s
``_concat``, "(measured; see ``MF``)" in ``models/mf.py`` and "take 3.3 s
instead of 4.7 s" in ``scripts/train_autorec.py``'s comment.  The
examples in ``test_the_patterns`` pin what is and is not flagged.
"""
import ast
import glob
import io
import os
import re
import tokenize

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = sorted(glob.glob(os.path.join(ROOT, 'd2l_recsys', '**', '*.py'),
                         recursive=True) +
               glob.glob(os.path.join(ROOT, 'scripts', '*.py')))

NUMBER = r'(?<![\w.])~?\d+(?:[.,]\d+)*(?:\s?[-–]\s?\d+(?:\.\d+)?)?'
PATTERNS = {
    'a time': re.compile(
        NUMBER + r'\s?(?:ms|us|µs|ns|s|secs?|seconds?|mins?|minutes?|'
        r'hours?)\b'),
    'a ratio': re.compile(NUMBER + r'[x×](?!\w)'),
    'a speed-up': re.compile(
        NUMBER + r'\s?(?:[x×]|%|times)\s+(?:faster|slower|cheaper|dearer|'
        r'quicker|shorter|longer|as fast)\b', re.I),
    'the word "measured"': re.compile(r'\bmeasured\b', re.I),
}

# Phrases that look like measurements but are definitions: removed from
# the text before the patterns look at it.
ALLOWED = {
    'the default 5 s': "uvicorn's default wait for a worker's health check",
    '~40 ms for a delayed ACK': "TCP's delayed acknowledgement timer",
    'published against measured': "the reproduction report's plot",
    'how a seed is measured': 'what a reproduction row runs per seed',
    'Figures measured once, without a result file':
        'the section of docs/benchmarks.md that holds such figures',
}


def texts(path):
    """``(line, text)`` of every comment and docstring of a module; a run
    of comment lines is one text (a figure may span two lines)."""
    with open(path, encoding='utf-8') as f:
        source = f.read()
    block, start, last = [], None, None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            if last is None or tok.start[0] != last + 1:
                if block:
                    yield start, ' '.join(block)
                block, start = [], tok.start[0]
            block.append(tok.string.lstrip('#'))
            last = tok.start[0]
    if block:
        yield start, ' '.join(block)
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, 'body', None)
        if not isinstance(body, list):
            continue
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)) and _string(body[:1]):
            yield body[0].lineno, body[0].value.value
        for before, stmt in zip(body, body[1:]):
            if isinstance(before, (ast.Assign, ast.AnnAssign)) and \
                    _string([stmt]):
                yield stmt.lineno, stmt.value.value


def _string(stmts):
    return bool(stmts) and isinstance(stmts[0], ast.Expr) and \
        isinstance(stmts[0].value, ast.Constant) and \
        isinstance(stmts[0].value.value, str)


def findings(text):
    """``[(what, matched text)]`` of the measurements in ``text``."""
    flat = ' '.join(text.split())
    for phrase in ALLOWED:
        flat = re.sub(re.escape(phrase), ' ', flat, flags=re.I)
    return [(what, m.group(0)) for what, pattern in PATTERNS.items()
            for m in pattern.finditer(flat)]


@pytest.mark.parametrize('text', [
    'whole 1.5 against chunked 10.5 ms at ML-100K',
    'a dense scatter cost 0.06-0.1 s a step',
    'the 25 epochs take 3.3 s instead of 4.7 s',
    '100 against 400 us per row',
    'an epoch of ~6 minutes',
    'by 1.4-2x',
    '25x faster than in data order',
    'is ~3x slower',
    'sparse is 1.5 x faster',
    '30% faster than the loop',
    '3 times faster',
    '(measured; see MF)',
])
def test_the_patterns_flag_measurements(text):
    assert findings(text), text


@pytest.mark.parametrize('text', [
    'never above 2^26 outputs (256 MB)',
    'scores computed per step (16 MB of float32)',
    'below 2% observed, as ML-10M and ML-20M',
    "ML-20M's shape (138,493 x 26,744)",
    'biases alone stay >= 1.2 x floor_rmse',
    'num_users + num_items >= 16 * batch_size',
    'WHOLE_MAX = 1 << 26',
    'at most 40 to 1',
    'the 25 epochs with an evaluation after each',
    '4 KB pages',
    '0x1f',
    'the default 5 s kills slow starters',
    'waits ~40 ms for a delayed ACK',
    'docs/benchmarks.md, "Figures measured once, without a result file"',
])
def test_the_patterns_pass_rules(text):
    assert not findings(text), findings(text)


def test_comments_and_docstrings_hold_no_measurements():
    assert FILES, 'no module found'
    found = [f'{os.path.relpath(path, ROOT)}:{line}: {what}: {match!r}'
             for path in FILES for line, text in texts(path)
             for what, match in findings(text)]
    assert not found, (
        'measured figures in comments or docstrings; state the rule and '
        'point to bench/results/*.json and docs/benchmarks.md instead:\n' +
        '\n'.join(found))
