"""The package as users install it: a wheel built from this tree (offline,
without dependencies) holds the library and the ``d2l-recsys`` command and
nothing else, and the command runs from the unpacked wheel alone."""
import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import d2l_recsys
from d2l_recsys.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
# What a checkout may hold besides sources: never copied into the build
# (the top-level run, build and data folders; caches at any depth).
TOP = {'.git', '.venv', 'venv', 'runs', 'build', 'dist', 'ml-100k'}
ANYWHERE = shutil.ignore_patterns('*.egg-info', '__pycache__',
                                  '.pytest_cache', '.ipynb_checkpoints',
                                  '*.params')


def _skip(folder, names):
    top = TOP.intersection(names) if Path(folder) == ROOT else set()
    return top | ANYWHERE(folder, names)


def _setuptools_version():
    try:
        version = importlib.metadata.version('setuptools')
    except importlib.metadata.PackageNotFoundError:
        return None
    return tuple(int(p) for p in version.split('.')[:2] if p.isdigit())


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """Build the wheel from a copy of this tree (a build writes build/ and
    *.egg-info next to the sources; the copy keeps the checkout clean and
    stale build/ files out of the wheel)."""
    version = _setuptools_version()
    if version is None or version < (77,):
        pytest.skip('building offline needs setuptools >= 77 in this '
                    'environment: pip install -e ".[test]"')
    tmp = tmp_path_factory.mktemp('package')
    src, out = tmp / 'src', tmp / 'dist'
    shutil.copytree(ROOT, src, ignore=_skip)
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps',
         '--no-build-isolation', '--no-index', '--quiet', '-w', str(out),
         str(src)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, 'PIP_DISABLE_PIP_VERSION_CHECK': '1'})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(out.glob('d2l_recsys-*.whl'))
    assert len(wheels) == 1, os.listdir(out)
    return wheels[0]


def _dist_info(names):
    (info,) = {n.split('/')[0] for n in names
               if n.split('/')[0].endswith('.dist-info')}
    return info


def test_wheel_holds_the_library_and_the_command(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        info = _dist_info(names)
        meta = Parser().parsestr(z.read(f'{info}/METADATA').decode())
        entry_points = z.read(f'{info}/entry_points.txt').decode()
    version = d2l_recsys.__version__
    assert wheel.name.startswith(f'd2l_recsys-{version}-py3-none-any')
    assert info == f'd2l_recsys-{version}.dist-info'
    # The library only: no tests, scripts, results, notebooks or benchmarks.
    assert {n.split('/')[0] for n in names} == {'d2l_recsys', info}, \
        sorted({n.split('/')[0] for n in names})
    for module in ('__init__.py', '__main__.py', 'commands/__init__.py',
                   'commands/__main__.py', 'serving/app.py', 'data/__init__.py',
                   'models/__init__.py', 'runs/__init__.py'):
        assert f'd2l_recsys/{module}' in names, module
    # Every command the help lists has its module (a command whose module
    # is missing fails only when someone runs it).
    for name in COMMANDS:
        assert f'd2l_recsys/commands/{name}.py' in names, name
    assert not [n for n in names if '__pycache__' in n or n.endswith('.pyc')]
    assert f'{info}/licenses/LICENSE' in names
    # One version (from d2l_recsys.__version__), the Python range, licence.
    assert meta['Name'] == 'd2l_recsys' and meta['Version'] == version
    assert set(meta['Requires-Python'].split(',')) == {'>=3.10', '<3.12'}
    assert meta['License-Expression'] == 'Apache-2.0'
    requires = meta.get_all('Requires-Dist')
    assert 'd2l==1.0.3' in requires
    assert any(r.startswith('mxnet==1.9.1') and '"cpu"' in r
               for r in requires), requires
    assert any(r.startswith('mxnet-cu112==1.9.1') and '"gpu"' in r
               for r in requires), requires
    assert not any(r.startswith('mxnet') and 'extra' not in r
                   for r in requires), requires
    # The console command.
    section = entry_points.split('[console_scripts]', 1)[1].split('[')[0]
    assert 'd2l-recsys = d2l_recsys.commands:main' in section.splitlines()


def test_unpacked_wheel_runs_the_command(wheel, tmp_path):
    site, elsewhere = tmp_path / 'site', tmp_path / 'elsewhere'
    elsewhere.mkdir()
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    env = {**os.environ, 'PYTHONPATH': str(site)}
    # The unpacked copy is the one imported, not this checkout.
    origin = subprocess.run(
        [sys.executable, '-c', 'import importlib.util as u; '
         "print(u.find_spec('d2l_recsys').origin)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert origin.returncode == 0, origin.stderr
    assert Path(origin.stdout.strip()) == site / 'd2l_recsys' / '__init__.py'
    proc = subprocess.run(
        [sys.executable, '-m', 'd2l_recsys.commands', '--help'],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith('usage: d2l-recsys COMMAND')
    for name in ('train', 'tune', 'recommend', 'predict', 'export', 'serve',
                 'reproduce', 'synthetic'):
        assert f'\n  {name} ' in proc.stdout, (name, proc.stdout)
    # A command's own --help loads its module from the wheel.
    proc = subprocess.run(
        [sys.executable, '-m', 'd2l_recsys.commands', 'export', '--help'],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith('usage: d2l-recsys export')
