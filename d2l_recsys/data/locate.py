"""MovieLens releases: what each one holds and where to find it.

Every release is read as GroupLens ships it (``RELEASES``):

=================  ===============  ==============  =======================
release            ratings file     titles file     ratings
=================  ===============  ==============  =======================
ml-100k            ``u.data`` (tab) ``u.item``      integers 1..5
ml-1m              ``ratings.dat``  ``movies.dat``  integers 1..5
ml-10m             ``ratings.dat``  ``movies.dat``  0.5..5 in half stars
ml-20m, 25m, 32m   ``ratings.csv``  ``movies.csv``  0.5..5 in half stars
=================  ===============  ==============  =======================

Where the data comes from, first match wins:

1. the ``data_dir`` argument (``--data-dir`` in the scripts);
2. the environment variable ``D2L_RECSYS_DATA``;
3. the book's way: a d2l-style ``DATA_HUB`` entry (URL and SHA-1; d2l's own
   for ML-100K), downloaded with ``d2l.download`` into ``../data`` and
   checked against its SHA-1, or, where no SHA-1 is known, against the MD5
   GroupLens publishes beside the zip (``DATA_MD5``).

Each may name an extracted folder (e.g. ``ml-1m/``, or ``ml-10M100K/``,
where ML-10M's zip extracts to), its parent, or the zip file; a leading
``~`` is the user's home.  With ``dataset=None`` (the default) the first
release found is read (ML-100K is looked for first) and ML-100K is
downloaded; naming a release reads that release only.  Reading the files
found is ``formats``' job.
"""
import collections
import hashlib
import os
import zipfile

ENV_VAR = 'D2L_RECSYS_DATA'
DEFAULT_CACHE = os.path.join('..', 'data')  # where d2l itself caches downloads

STARS = (1, 5, 1)            # (lowest, highest, step)
HALF_STARS = (0.5, 5.0, 0.5)

Release = collections.namedtuple(
    'Release', 'title folders ratings sep titles scale')
RELEASES = {
    'ml-100k': Release('MovieLens 100K', ('ml-100k',), 'u.data', '\t',
                       'u.item', STARS),
    'ml-1m': Release('MovieLens 1M', ('ml-1m',), 'ratings.dat', '::',
                     'movies.dat', STARS),
    'ml-10m': Release('MovieLens 10M', ('ml-10M100K', 'ml-10m'),
                      'ratings.dat', '::', 'movies.dat', HALF_STARS),
    'ml-20m': Release('MovieLens 20M', ('ml-20m',), 'ratings.csv', ',',
                      'movies.csv', HALF_STARS),
    'ml-25m': Release('MovieLens 25M', ('ml-25m',), 'ratings.csv', ',',
                      'movies.csv', HALF_STARS),
    'ml-32m': Release('MovieLens 32M', ('ml-32m',), 'ratings.csv', ',',
                      'movies.csv', HALF_STARS),
}
DATASETS = tuple(RELEASES)

_GROUPLENS = 'https://files.grouplens.org/datasets/movielens/'
# d2l-style entries: name -> (url, SHA-1).  ML-100K's is d2l's own.  No
# SHA-1 of the other zips could be found in a source to trust, so theirs is
# None: ``d2l.download`` then skips its check and ``DATA_MD5`` is checked
# instead.
DATA_HUB = {
    'ml-100k': (_GROUPLENS + 'ml-100k.zip',
                'cd4dcac4241c8a4ad7badc7ca635da8a69dddb83'),
    'ml-1m': (_GROUPLENS + 'ml-1m.zip', None),
    'ml-10m': (_GROUPLENS + 'ml-10m.zip', None),
    'ml-20m': (_GROUPLENS + 'ml-20m.zip', None),
    'ml-25m': (_GROUPLENS + 'ml-25m.zip', None),
    'ml-32m': (_GROUPLENS + 'ml-32m.zip', None),
}
# The MD5s GroupLens publishes beside each zip (``<zip>.md5``).
DATA_MD5 = {
    'ml-100k': '0e33842e24a9c977be4e0107933c0723',
    'ml-1m': 'c4d9eecfca2ab87c1945afe126590906',
    'ml-10m': 'ce571fd55effeba0271552578f2648bd',
    'ml-20m': 'cd245b17a1ae2cc31bb14903e1204af3',
    'ml-25m': '6b51fb2759a8657d3bfcbfc42b592ada',
    'ml-32m': 'd472be332d4daa821edc399621853b57',
}

# Ratings are parsed as float32 (exact on the half-star grid; ratings off


# --------------------------------------------------------------------------
# Finding the data
# --------------------------------------------------------------------------
def _check_dataset(dataset):
    if dataset is not None and dataset not in RELEASES:
        raise ValueError(f'dataset={dataset!r}: expected one of '
                         f'{", ".join(DATASETS)}')


def _releases(dataset):
    return [dataset] if dataset else list(RELEASES)


def _release_of_folder(path):
    """The release whose folder (e.g. ``ml-10M100K``) holds ``path``."""
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    for name, rel in RELEASES.items():
        if folder.lower() in (f.lower() for f in rel.folders):
            return name
    return None


def _find_ratings_file(folder, dataset=None):
    """Return the ratings file inside ``folder`` or one level below, or None.
    Files in ``folder`` itself win; then release folders in ``RELEASES``
    order."""
    names = _releases(dataset)
    files = list(dict.fromkeys(RELEASES[n].ratings for n in names))
    subs = list(dict.fromkeys(
        [''] + [f for n in names for f in RELEASES[n].folders]))
    for sub in subs:
        for name in files:
            path = os.path.join(folder, sub, name)
            if os.path.isfile(path):
                return path
    return None


def safe_extract(zip_path, target_dir):
    """Extract ``zip_path`` into ``target_dir``, refusing any member whose
    path would land outside it (absolute paths, ``..``).

    Args:
        zip_path: the zip file.
        target_dir: the folder to extract into.
    """
    target = os.path.realpath(target_dir)
    with zipfile.ZipFile(zip_path) as zf:
        for member in zf.namelist():
            dest = os.path.realpath(os.path.join(target, member))
            if os.path.commonpath([target, dest]) != target:
                raise ValueError(f'{zip_path}: refusing to extract member '
                                 f'{member!r}: it would be written outside '
                                 f'{target_dir}')
        zf.extractall(target)


def _zip_member(zip_path, dataset):
    """The ratings file inside a zip (at its top or one folder down)."""
    with zipfile.ZipFile(zip_path) as zf:
        members = zf.namelist()
    for name in dict.fromkeys(RELEASES[n].ratings for n in
                              _releases(dataset)):
        for member in members:
            parts = member.split('/')
            if parts[-1] == name and len(parts) <= 2:
                return member
    return None


def _wanted(dataset):
    """What a folder must hold, for error messages."""
    if dataset:
        rel = RELEASES[dataset]
        return (f'{rel.ratings} ({rel.title})',
                ' or '.join(f'{f}/' for f in rel.folders))
    files = ', '.join(dict.fromkeys(r.ratings for r in RELEASES.values()))
    folders = ', '.join(f'{f}/' for r in RELEASES.values()
                        for f in r.folders)
    return f'MovieLens ratings file ({files})', f'release folders {folders}'


def _ratings_file_from(path, dataset=None):
    """A folder, its parent, or a zip -> the ratings file it holds."""
    if not os.path.exists(path):
        raise FileNotFoundError(f'{path}: no such file or folder')
    if os.path.isfile(path) and zipfile.is_zipfile(path):
        member = _zip_member(path, dataset)
        if member is None:
            raise FileNotFoundError(f'{path}: the zip holds no '
                                    f'{_wanted(dataset)[0]}')
        folder = os.path.dirname(os.path.abspath(path))
        found = os.path.join(folder, *member.split('/'))
        if not os.path.isfile(found):
            safe_extract(path, folder)
        return found
    if os.path.isfile(path):
        return path
    found = _find_ratings_file(path, dataset)
    if found is None:
        what, where = _wanted(dataset)
        raise FileNotFoundError(f'{path}: no {what} in this folder or its '
                                f'{where} subfolder')
    return found


def _digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _download_with_d2l(name='ml-100k', cache_dir=DEFAULT_CACHE):
    """The book's way: a DATA_HUB entry and d2l's download helper, then the
    SHA-1 check (the MD5 check where no SHA-1 is known)."""
    from d2l import mxnet as d2l
    url, sha1 = DATA_HUB[name]
    algorithm, expected = ('sha1', sha1) if sha1 else ('md5', DATA_MD5[name])
    cached = os.path.join(cache_dir, url.split('/')[-1])
    if not sha1 and os.path.isfile(cached) and \
            _digest(cached, algorithm) == expected:
        return cached   # d2l re-downloads whenever it has no SHA-1
    fname = d2l.download(url, folder=cache_dir, sha1_hash=sha1)
    got = _digest(fname, algorithm)
    if got != expected:
        raise ValueError(f'{fname}: {algorithm.upper()} {got} does not '
                         f'match {expected}, the one known for {url}')
    return fname


def _sep_of(path):
    """``::`` for ``.dat`` files, ``,`` for ``.csv`` files, else a tab."""
    name = os.path.basename(path).lower()
    if name.endswith('.csv'):
        return ','
    if name.endswith('.dat'):
        return '::'
    return '\t'


def _check_release(path, dataset):
    """A file found for ``dataset`` must be in its format and not in
    another release's folder."""
    if dataset is None:
        return
    rel = RELEASES[dataset]
    if _sep_of(path) != rel.sep:
        raise ValueError(f'{path}: not in the format of {rel.title} '
                         f'(dataset={dataset!r} is read from {rel.ratings})')
    other = _release_of_folder(path)
    if other not in (None, dataset):
        raise ValueError(f'{path}: this folder holds '
                         f'{RELEASES[other].title}, not {rel.title} '
                         f'(dataset={dataset!r})')


def resolve_ratings_file(data_dir=None, dataset=None):
    """Return the path of the ratings file to read (see module docstring).

    Args:
        data_dir: a release folder, its parent, its zip, or a ratings file
            (``~`` expanded); None: ``$D2L_RECSYS_DATA``, else download.
        dataset: the release (a key of ``RELEASES``, e.g. ``'ml-1m'``);
            None: the first release found, ML-100K when downloading.

    Returns:
        The path of the ratings file.
    """
    _check_dataset(dataset)
    if data_dir:
        path = _ratings_file_from(
            os.path.expanduser(os.fspath(data_dir)), dataset)
    elif os.environ.get(ENV_VAR):
        try:
            path = _ratings_file_from(
                os.path.expanduser(os.environ[ENV_VAR]), dataset)
        except FileNotFoundError as e:
            raise FileNotFoundError(f'{ENV_VAR}={os.environ[ENV_VAR]}: {e}') \
                from None
    else:
        name = dataset or 'ml-100k'
        rel, url = RELEASES[name], DATA_HUB[name][0]
        try:
            path = _ratings_file_from(_download_with_d2l(name), name)
        except Exception as e:  # offline, blocked, corrupted download ...
            raise FileNotFoundError(
                f'{rel.title} (dataset {name!r}) is not available. Provide '
                'it in one of three ways: (1) pass data_dir= / --data-dir '
                f'PATH (the {rel.folders[0]} folder, its parent or '
                f'{url.split("/")[-1]}); (2) set {ENV_VAR}=PATH; (3) let d2l '
                f'download it from DATA_HUB ({url}) into {DEFAULT_CACHE} '
                f'(needs network). The download failed with: '
                f'{type(e).__name__}: {e}') from None
    _check_release(path, dataset)
    return path
