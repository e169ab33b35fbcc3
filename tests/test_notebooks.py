"""Every chapter notebook runs headless without a cell error, on small
synthetic data in MovieLens 100K's format (the real data may not be
redistributed): the test names that folder in D2L_RECSYS_DATA, whatever the
environment says, and sets D2L_RECSYS_QUICK=1, the notebooks' own switch for
fewer epochs.  A notebook that reads MovieLens must have read the synthetic
folder (its sizes are checked in the kernel after the last cell), and
downloads are made to fail, so none can fall back to the real data."""
import glob
import os

import nbformat
import pytest

from conftest import make_movielens

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, 'notebooks', '*.ipynb')))

# Sizes no release has, so that the check below tells the synthetic folder
# from real data.  The NCF protocol of neumf.ipynb ranks each held-out item
# among 99 sampled items the user never interacted with: 160 items at a
# density of 0.1 leave every user well over 99 of them.
NUM_USERS, NUM_ITEMS = 48, 160


@pytest.fixture(scope='module')
def synthetic_ml100k(tmp_path_factory):
    return make_movielens(str(tmp_path_factory.mktemp('nb') / 'ml-100k'),
                          num_users=NUM_USERS, num_items=NUM_ITEMS,
                          density=0.1, seed=1)


def reads_movielens(nb):
    """Whether the notebook loads MovieLens (through its ``data_dir``)."""
    return any(c.cell_type == 'code' and 'data_dir' in c.source
               for c in nb.cells)


def test_notebooks_found_and_stored_without_outputs():
    names = {os.path.basename(p) for p in NOTEBOOKS}
    assert {'mf.ipynb', 'autorec.ipynb', 'neumf.ipynb',
            'mf_from_scratch.ipynb', 'own_data.ipynb', 'seqrec.ipynb',
            'ctr.ipynb', 'fm.ipynb', 'deepfm.ipynb'} <= names
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == 'code':
                assert not cell.outputs and cell.execution_count is None, path


def test_the_chapter_notebooks_read_movielens():
    """The three chapters' notebooks are the ones checked against the
    synthetic sizes below."""
    reading = {os.path.basename(p) for p in NOTEBOOKS
               if reads_movielens(nbformat.read(p, as_version=4))}
    assert {'mf.ipynb', 'autorec.ipynb', 'neumf.ipynb', 'seqrec.ipynb',
            'ctr.ipynb', 'fm.ipynb', 'deepfm.ipynb'} <= reading


@pytest.mark.parametrize('path', NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, synthetic_ml100k, monkeypatch):
    """Mutation tried: autorec.ipynb loading MovieLens with d2l's own
    ``d2l.read_data_ml100k()`` (which ignores D2L_RECSYS_DATA and downloads)
    instead of ``rs.read_data_ml100k(data_dir)``: the cell fails with
    ConnectionRefusedError here (with a network and no proxy variables it
    would read the real 943 x 1682 data and fail the size check).  Setting
    the notebook's ``data_dir`` to None is no such mutation: the package
    itself reads D2L_RECSYS_DATA then, and the notebook still runs on the
    synthetic folder."""
    from nbclient import NotebookClient
    monkeypatch.setenv('D2L_RECSYS_DATA', synthetic_ml100k)
    monkeypatch.setenv('D2L_RECSYS_QUICK', '1')
    # d2l downloads with requests, which honours these: a notebook that
    # ignored D2L_RECSYS_DATA would fail instead of fetching MovieLens.
    for var in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'):
        monkeypatch.setenv(var, 'http://127.0.0.1:9')
    nb = nbformat.read(path, as_version=4)
    if reads_movielens(nb):
        nb.cells.append(nbformat.v4.new_code_cell(
            f'assert (num_users, num_items) == ({NUM_USERS}, {NUM_ITEMS}), '
            f'(num_users, num_items)'))
    NotebookClient(nb, timeout=600, kernel_name='python3',
                   resources={'metadata': {'path': os.path.dirname(path)}}
                   ).execute()   # raises CellExecutionError on any error
