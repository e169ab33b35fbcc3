"""Every chapter notebook runs headless without a cell error.  Notebooks on
MovieLens need D2L_RECSYS_DATA; D2L_RECSYS_QUICK=1 (set here) shortens their
training so that all of them together take a few minutes."""
import glob
import os

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, 'notebooks', '*.ipynb')))
NEEDS_NO_DATA = {'mf_from_scratch.ipynb', 'own_data.ipynb'}


def test_notebooks_found_and_stored_without_outputs():
    names = {os.path.basename(p) for p in NOTEBOOKS}
    assert {'mf.ipynb', 'autorec.ipynb', 'neumf.ipynb',
            'mf_from_scratch.ipynb', 'own_data.ipynb'} <= names
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == 'code':
                assert not cell.outputs and cell.execution_count is None, path


@pytest.mark.parametrize('path', NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, monkeypatch):
    from nbclient import NotebookClient
    if os.path.basename(path) not in NEEDS_NO_DATA and \
            not os.environ.get('D2L_RECSYS_DATA'):
        pytest.skip('needs MovieLens 100K: set D2L_RECSYS_DATA')
    monkeypatch.setenv('D2L_RECSYS_QUICK', '1')
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name='python3',
                   resources={'metadata': {'path': os.path.dirname(path)}}
                   ).execute()   # raises CellExecutionError on any error
