"""Faults in what runs leave: a stopped run's checkpoint files, and a
finished run's run.json, model, metrics.json or export files, damaged
(empty, cut short, junk or another run's) -- each resumed from or refused
in one line; an export killed before and after it is renamed into place;
and a training into a finished run's folder.  How the processes are
launched: tests/fault_helpers.py.
"""
import glob
import os
import shutil

import pytest
from fault_helpers import (DAMAGES, assert_killed, assert_one_error,
                           assert_same_run, checkpoint_epoch, command, damage,
                           error_lines, launch, options, read,  # noqa: F401
                           reference, results, snapshot)  # noqa: F401


# --------------------------------------------------------------------------
# 1. Damaged files
# --------------------------------------------------------------------------
def stopped_run(options, steps, out, *extra):
    """An MF run killed in epoch 3: its last checkpoint is epoch 2's, the
    one before epoch 1's."""
    p = launch([f'kill:step:{steps[0] + steps[1] + 2}'],
               options['mf'] + list(extra) + ['--out', out])
    assert_killed(p)
    assert checkpoint_epoch(out) == 2
    return out


@pytest.fixture(scope='module')
def runs(options, reference, tmp_path_factory):
    """The folders the damaged files are taken from: two MF runs stopped in
    epoch 3 (the second of other options), the finished MF and GMF runs,
    and their exports."""
    from d2l_recsys.serving import load_predictor, write_export
    base = tmp_path_factory.mktemp('damaged')
    steps = reference('mf')[1]
    folders = dict(
        stopped=stopped_run(options, steps, str(base / 'stopped')),
        stopped_other=stopped_run(options, steps, str(base / 'other'),
                                  '--num-factors', 5, '--seed', 3),
        finished=reference('mf')[0], finished_other=reference('gmf')[0])
    for name, run in (('export', 'finished'),
                      ('export_other', 'finished_other')):
        folders[name] = str(base / name)
        write_export(load_predictor(folders[run]), folders[name])
    return folders


def copy(runs, name, tmp_path):
    """A copy of the folder ``runs[name]`` to damage."""
    return shutil.copytree(runs[name], str(tmp_path / name), symlinks=True)


def assert_close(got, want, where='results'):
    """Equal, floats to 1e-6 (a run resumed in this process, whose MXNet
    may use other threads than the uninterrupted run's)."""
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            assert_close(got[k], want[k], f'{where}[{k!r}]')
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for k, (a, b) in enumerate(zip(got, want)):
            assert_close(a, b, f'{where}[{k}]')
    else:
        assert got == want, where


def test_truncated_checkpoint_resumes_from_the_one_before(
        runs, reference, tmp_path):
    """The last checkpoint's parameters cut to 1,000 bytes: ``--resume``
    says so on stderr, continues from the checkpoint before (epoch 1) and
    ends with the uninterrupted run.

    Mutation tried: Checkpoint.on_train_begin raising at the first damaged
    checkpoint instead of trying the one before: exit 2 (fails)."""
    out = copy(runs, 'stopped', tmp_path)
    params = os.path.join(out, 'checkpoint', 'net-e0002-b000000.params')
    assert os.path.getsize(params) > 1000
    with open(params, 'r+b') as f:
        f.truncate(1000)
    p = launch(['none'], ['train', 'mf', '--resume', out])
    assert p.returncode == 0, p.stderr
    assert 'Traceback' not in p.stderr
    lines = error_lines(p.stderr)
    assert len(lines) == 2, p.stderr
    assert lines[0].startswith(f'{params}: damaged'), lines
    assert lines[1] == ('resuming from the checkpoint before it instead: '
                        'epoch 1, batch 0'), lines
    assert_same_run(out, reference('mf')[0])


CHECKPOINT_FILES = ['net-e0002-b000000.params',
                    'trainer-e0002-b000000.states', 'state.json']


@pytest.mark.parametrize('how', DAMAGES)
@pytest.mark.parametrize('name', CHECKPOINT_FILES)
def test_damaged_checkpoint_falls_back(name, how, runs, capsys, tmp_path):
    """The last checkpoint's parameters, optimizer states or record empty,
    cut short, junk or another run's (another MF: 5 factors, seed 3): the
    resume names it, continues from the checkpoint before and ends as the
    uninterrupted run (here in this process: floats to 1e-6).

    Mutation tried: Checkpoint._restore without the check of the states
    (``fits_states``): another run's optimizer states load and the next
    step raises MXNetError with a traceback (fails); without the
    configuration check, another run's state.json resumes silently with
    its history (fails: no line on stderr)."""
    out = copy(runs, 'stopped', tmp_path)
    path = os.path.join(out, 'checkpoint', name)
    damage(path, how, os.path.join(runs['stopped_other'], 'checkpoint',
                                   name))
    code, _, err = command(capsys, 'train', 'mf', '--resume', out)
    assert code == 0, err
    lines = error_lines(err)
    assert len(lines) == 2 and lines[0].startswith(f'{path}: damaged'), err
    assert lines[1].endswith('instead: epoch 1, batch 0'), err
    assert_close(results(out), results(runs['finished']))


def test_no_usable_checkpoint_is_one_line(runs, capsys, tmp_path):
    """Both checkpoints damaged (state.json and previous.json junk): exit
    2 and one line saying none is usable and what to do.

    Mutation tried: on_train_begin returning when every checkpoint failed
    (starting over silently): exit 0 (fails)."""
    out = copy(runs, 'stopped', tmp_path)
    for name in ('state.json', 'previous.json'):
        damage(os.path.join(out, 'checkpoint', name), 'junk')
    code, _, err = command(capsys, 'train', 'mf', '--resume', out)
    assert_one_error(code, err, 'previous.json', 'no usable checkpoint',
                     '--overwrite')


@pytest.mark.parametrize('how', DAMAGES)
def test_damaged_run_json(how, runs, capsys, tmp_path):
    """run.json empty, cut short, junk or another run's: ``--resume`` of a
    stopped run and ``recommend`` of a finished one each exit 2 with one
    line naming it (another MF run's run.json: its checkpoints are another
    run's; a GMF run's: two runs' files).

    Mutation tried: open_run without the check of the entry against
    model.json: the GMF run.json in the MF folder gives "the MF model was
    built for ... is it the data ...", which names neither file (fails)."""
    stopped, finished = copy(runs, 'stopped', tmp_path), \
        copy(runs, 'finished', tmp_path)
    damage(os.path.join(stopped, 'run.json'), how,
           os.path.join(runs['stopped_other'], 'run.json'))
    damage(os.path.join(finished, 'run.json'), how,
           os.path.join(runs['finished_other'], 'run.json'))
    code, _, err = command(capsys, 'train', 'mf', '--resume', stopped)
    words = ('another run',) if how == 'other' else ('run.json', 'damaged')
    assert_one_error(code, err, stopped, *words)
    code, _, err = command(capsys, 'recommend', '--model-dir', finished,
                           '--user', 3)
    words = ('run.json is a gmf run and model.json a MF',) \
        if how == 'other' else ('run.json', 'damaged')
    assert_one_error(code, err, finished, *words)


@pytest.mark.parametrize('how', DAMAGES)
@pytest.mark.parametrize('name', ['model.params', 'model.json'])
def test_damaged_model(name, how, runs, capsys, tmp_path):
    """model.params or model.json empty, cut short, junk or the GMF run's:
    ``recommend`` and ``export`` exit 2 with one line naming the folder's
    file and what to do.

    Mutation tried: load_model letting MXNet's error through (no
    ``damaged``): the error line carries MXNet's multi-line traceback
    (fails)."""
    finished = copy(runs, 'finished', tmp_path)
    damage(os.path.join(finished, name), how,
           os.path.join(runs['finished_other'], name))
    for argv in (['recommend', '--model-dir', finished, '--user', 3],
                 ['export', '--model-dir', finished, '--out',
                  tmp_path / 'export']):
        code, _, err = command(capsys, *argv)
        assert_one_error(code, err, f'{finished}/model.', 'damaged',
                         'train the run again')
    assert not os.path.exists(tmp_path / 'export')


@pytest.mark.parametrize('how', DAMAGES)
def test_damaged_metrics_json_is_written_again(how, runs, capsys, tmp_path):
    """metrics.json is read by no command: with it empty, cut short, junk or
    the GMF run's, ``recommend`` answers, and ``--resume`` of the finished
    run writes it again, equal to the uninterrupted run's.

    Mutation tried: load_predictor reading the run's metrics.json
    (``read_json``): ``recommend`` exits 2 on the damaged file (fails)."""
    finished = copy(runs, 'finished', tmp_path)
    path = os.path.join(finished, 'metrics.json')
    damage(path, how, os.path.join(runs['finished_other'], 'metrics.json'))
    code, out, err = command(capsys, 'recommend', '--model-dir', finished,
                             '--user', 3, '-k', 2)
    assert code == 0 and out.startswith('top 2 for user 3'), err
    code, _, err = command(capsys, 'train', 'mf', '--resume', finished)
    assert code == 0, err
    assert_close(results(finished), results(runs['finished']))


EXPORT_FILES = ['export.json', 'model-symbol.json', 'model-0000.params',
                'interactions.npz', 'ids.json', 'titles.json']


@pytest.mark.parametrize('how', DAMAGES)
@pytest.mark.parametrize('name', EXPORT_FILES)
def test_damaged_export(name, how, runs, capsys, tmp_path):
    """An export's file empty, cut short, junk or the GMF export's:
    ``recommend`` from it exits 2 with one line naming the export (its
    file, or the export when its files do not fit together) and saying to
    export again.

    Mutation tried: read_export catching (ValueError, OSError, KeyError,
    EOFError) only: a cut-short interactions.npz raises BadZipFile with a
    traceback (fails); without the check of the symbol's nodes, the GMF
    export's model-symbol.json is served silently (fails)."""
    export = copy(runs, 'export', tmp_path)
    damage(os.path.join(export, name), how,
           os.path.join(runs['export_other'], name))
    code, _, err = command(capsys, 'recommend', '--model-dir', export,
                           '--user', 3)
    assert_one_error(code, err, export, 'export the run again')


# --------------------------------------------------------------------------
# 2. Exports
# --------------------------------------------------------------------------
def exporting(run, out, *extra):
    return ['export', '--model-dir', run, '--out', out, *extra]


def served_model(out):
    from d2l_recsys.serving import load_predictor
    return load_predictor(str(out)).model


def test_export_killed_before_and_after_its_rename(runs, tmp_path):
    """An export killed while it writes its files or just before its
    folder is renamed into place leaves no export; just after, the whole
    export.  Replacing it (--overwrite, by the GMF run's) killed while the
    new files are written or just before the exchange leaves the old one
    byte for byte; just after, the new one whole.  A second export without
    --overwrite is refused in one line; the next export removes the
    leftovers of the killed ones.  (6 kills.)

    Mutation tried: _write building the export in ``out`` itself instead of
    a temporary folder: the kill while its files are written leaves a
    folder without export.json (fails)."""
    import re
    out = tmp_path / 'export'
    mf, gmf = runs['finished'], runs['finished_other']
    into = re.escape(str(out)) + '$'
    for spec in ('kill:write:1:tmp:/export\\.json',
                 f'kill:rename:1:before:{into}'):
        p = launch([spec], exporting(mf, out))
        assert_killed(p)
        assert not out.exists()
    p = launch([f'kill:rename:1:after:{into}'], exporting(mf, out))
    assert_killed(p)
    assert served_model(out) == 'MF'
    first = snapshot(out)
    p = launch(['none'], exporting(mf, out))
    assert_one_error(p.returncode, p.stderr, 'already holds an export',
                     '--overwrite')
    assert snapshot(out) == first
    exchange = 'd2l_recsys.serving.export._exchange'
    for spec in ('kill:write:2:before', f'kill:call:{exchange}:1:before'):
        p = launch([spec], exporting(gmf, out, '--overwrite'))
        assert_killed(p)
        assert snapshot(out) == first
    p = launch([f'kill:call:{exchange}:1:after'],
               exporting(gmf, out, '--overwrite'))
    assert_killed(p)
    assert served_model(out) == 'GMF'
    assert glob.glob(str(tmp_path / '.tmp-export-*'))
    p = launch(['none'], exporting(mf, out, '--overwrite'))
    assert p.returncode == 0, p.stderr
    assert served_model(out) == 'MF'
    assert snapshot(out) == first
    assert glob.glob(str(tmp_path / '.tmp-export-*')) == []


# --------------------------------------------------------------------------
# 3. A finished run's folder
# --------------------------------------------------------------------------
def test_training_into_a_finished_run(runs, options, capsys, tmp_path):
    """Training into a finished run's folder: exit 2, one line saying what
    it holds and the two ways on, every file byte for byte as before; with
    --overwrite (2 epochs) the folder holds the new run only.

    Mutation tried: claim clearing the folder before check_free (as if
    --overwrite were always given): the first run's files are gone
    (fails)."""
    out = copy(runs, 'finished', tmp_path)
    before = snapshot(out)
    code, _, err = command(capsys, *options['mf'], '--out', out)
    assert_one_error(code, err, out, 'already holds a run (run.json)',
                     f'--resume {out}', '--overwrite')
    assert snapshot(out) == before
    code, _, err = command(capsys, *options['mf'], '--epochs', 2, '--out',
                           out, '--overwrite')
    assert code == 0, err
    assert [h['epoch'] for h in read(os.path.join(out, 'metrics.json'))[
        'history']] == [1, 2]
    assert checkpoint_epoch(out) == 2
    assert not glob.glob(os.path.join(out, 'checkpoint', '*-e0006-*'))
