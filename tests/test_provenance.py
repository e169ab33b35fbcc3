"""What a run records about the tree and the time it ran in.

``git_state`` is run against a small repository made for each test (its
``ROOT`` pointed there), so the checkout the tests run in, and whatever is
being edited in it, does not matter.

Mutations tried: with ``git_state`` asking ``git status`` only about
``d2l_recsys/`` and ``scripts/`` (as it once did),
``test_a_changed_file_outside_the_code_counts``,
``test_a_staged_change_counts`` and
``test_a_deleted_or_renamed_file_counts`` fail (``dirty`` misses the
files); with ``stamp`` taking its day from ``datetime.date.today()`` (the
local day) and ``context`` writing ``'%Y-%m-%d %H:%M UTC'``,
``test_the_day_recorded_is_the_utc_day`` and
``test_started_is_iso_8601_utc`` fail.
"""
import datetime
import os
import re
import subprocess

import pytest

from d2l_recsys import provenance


def git(repo, *args):
    subprocess.run(['git', '-C', str(repo), '-c', 'user.name=t',
                    '-c', 'user.email=t@example.com', *args],
                   check=True, capture_output=True, text=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A committed repository with code, docs and results, ``provenance``
    pointed at it."""
    root = tmp_path / 'repo'
    files = {'d2l_recsys/model.py': 'x = 1\n', 'scripts/train.py': 'y\n',
             'docs/notes.md': 'notes\n', 'results/table.json': '{}\n',
             'pyproject.toml': '[project]\n', '.gitignore': 'runs/\n'}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, 'init', '-q')
    git(root, 'add', '.')
    git(root, 'commit', '-q', '-m', 'start')
    monkeypatch.setattr(provenance, 'ROOT', str(root))
    return root


def test_a_clean_tree_has_no_changes(repo):
    state = provenance.git_state()
    assert re.fullmatch(r'[0-9a-f]{40}', state['commit'])
    assert state['dirty'] == []


def test_a_changed_file_outside_the_code_counts(repo):
    (repo / 'pyproject.toml').write_text('[project]\nname = "other"\n')
    (repo / 'docs' / 'notes.md').write_text('other notes\n')
    assert provenance.git_state()['dirty'] == ['docs/notes.md',
                                               'pyproject.toml']


def test_a_staged_change_counts(repo):
    (repo / 'results' / 'table.json').write_text('{"a": 1}\n')
    git(repo, 'add', 'results/table.json')
    assert provenance.git_state()['dirty'] == ['results/table.json']


def test_a_deleted_or_renamed_file_counts(repo):
    (repo / 'docs' / 'notes.md').unlink()
    git(repo, 'mv', 'pyproject.toml', 'setup.toml')
    assert provenance.git_state()['dirty'] == [
        'docs/notes.md', 'pyproject.toml', 'setup.toml']


def test_new_files_count_in_the_code_only(repo):
    (repo / 'd2l_recsys' / 'new.py').write_text('z = 2\n')
    (repo / 'draft.txt').write_text('not code\n')
    (repo / 'runs').mkdir()
    (repo / 'runs' / 'log.txt').write_text('ignored\n')
    assert provenance.git_state()['dirty'] == ['d2l_recsys/new.py']


def test_outputs_of_the_run_are_left_out(repo, monkeypatch):
    (repo / 'results' / 'table.json').write_text('{"a": 1}\n')
    (repo / 'd2l_recsys' / 'model.py').write_text('x = 2\n')
    monkeypatch.chdir(repo)
    state = provenance.git_state(outputs=['results/table.json', None])
    assert state['dirty'] == ['d2l_recsys/model.py']
    folder = provenance.git_state(outputs=[str(repo / 'results')])
    assert folder['dirty'] == ['d2l_recsys/model.py']


def test_outside_a_checkout_nothing_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, 'ROOT', str(tmp_path))
    assert provenance.git_state() == dict(commit=None, dirty=[])


def test_started_is_iso_8601_utc(repo):
    before = datetime.datetime.now(datetime.timezone.utc)
    ctx = provenance.context('python scripts/reproduce.py')
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', ctx['started'])
    started = datetime.datetime.fromisoformat(
        ctx['started'].replace('Z', '+00:00'))
    assert started.utcoffset() == datetime.timedelta(0)
    assert abs(started - before) < datetime.timedelta(minutes=1)
    assert ctx['dirty'] == [] and ctx['command'].startswith('python')


class _LocalNow(datetime.datetime):
    """23:30 UTC, seen from a zone 14 hours ahead."""
    @classmethod
    def now(cls, tz=None):
        utc = datetime.datetime(2026, 1, 1, 23, 30,
                                tzinfo=datetime.timezone.utc)
        return utc.astimezone(tz) if tz else \
            (utc + datetime.timedelta(hours=14)).replace(tzinfo=None)


class _LocalToday(datetime.date):
    @classmethod
    def today(cls):
        return datetime.date(2026, 1, 2)


class _LocalClock:
    """``datetime`` as seen at 23:30 UTC from a zone 14 hours ahead: the
    local day is already the next one."""
    timezone, timedelta = datetime.timezone, datetime.timedelta
    datetime, date = _LocalNow, _LocalToday


def test_the_day_recorded_is_the_utc_day(monkeypatch):
    monkeypatch.setattr(provenance, 'datetime', _LocalClock)
    assert provenance.today() == '2026-01-01'
    made = provenance.stamp(1.5, dict(started='2026-01-01T23:30:00Z'))
    assert made['date'] == '2026-01-01' and made['seconds'] == 1.5
