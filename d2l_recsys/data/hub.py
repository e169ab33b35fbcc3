"""The book's way to name a data set: ``DATA_HUB[name] = (url, sha1)`` and
``download_extract(name)``, the folder of its files, for the chapter's code
as printed with ``d2l.`` turned into ``rs.``.

Unlike d2l's, ``download_extract`` first looks where this package keeps
each data set, so the printed code runs offline: a MovieLens release
comes from ``$D2L_RECSYS_DATA`` (``locate``), the CTR files from
``$D2L_RECSYS_CTR`` (``ctr.ctr_dir``); only without them is the zip
downloaded, its SHA-1 checked.  Any other name (or an entry the caller
replaced) goes to ``d2l.download_extract`` as the book does.
"""
import os

from .ctr import CTR_DATA_HUB, ctr_dir
from .locate import DATA_HUB as _RELEASE_HUB
from .locate import RELEASES, resolve_ratings_file

# d2l's: where the book's own data sets are served from
DATA_URL = 'http://d2l-data.s3-accelerate.amazonaws.com/'
# the entries this package serves from local copies first, as shipped
_OURS = dict(_RELEASE_HUB, ctr=CTR_DATA_HUB)
DATA_HUB = dict(_OURS)      # the book's code may add or replace entries


def download_extract(name, folder=None):
    """The folder holding data set ``name``'s files (``d2l.download_extract``
    with local copies first; see the module docstring).

    Args:
        name: a key of ``DATA_HUB`` (``'ml-100k'``, ``'ctr'``, ...).
        folder: as d2l's: the subfolder of the extracted zip to return
            (None: the zip's name without ``.zip``); only for names passed
            on to d2l.
    """
    if name not in DATA_HUB:
        raise KeyError(f'{name!r} is not in DATA_HUB (it has '
                       f'{", ".join(sorted(DATA_HUB))}); add it as the book '
                       "does: DATA_HUB[name] = (url, sha1)")
    if DATA_HUB[name] == _OURS.get(name) and folder is None:
        if name == 'ctr':
            return ctr_dir()
        if name in RELEASES:
            return os.path.dirname(resolve_ratings_file(None, name))
    from d2l import mxnet as d2l
    d2l.DATA_HUB[name] = DATA_HUB[name]
    return d2l.download_extract(name, folder)


def get_dataloader_workers():
    """Worker processes for the book's ``gluon.data.DataLoader`` calls: 0.
    The book asks for 4; its data sets here are arrays in memory, which a
    worker process only copies back, so the main process loads them
    faster."""
    return 0
