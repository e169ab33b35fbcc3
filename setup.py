from setuptools import find_packages, setup

setup(
    name='d2l_recsys',
    version='0.2.0',
    description='The recommender-systems chapters of Dive into Deep Learning '
                '(MF, AutoRec, NeuMF) in MXNet/Gluon: faithful, fast and '
                'tested',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['d2l_recsys', 'd2l_recsys.*']),
    python_requires='>=3.8,<3.12',
    install_requires=[
        'd2l==1.0.3',
        'numpy<1.24',   # mxnet 1.9.1 fails to import on numpy >= 1.24
        'pandas',
        'plotly',
        'tqdm',         # progress bars on a terminal
    ],
    extras_require={
        # Pick exactly one: both install the `mxnet` module.
        'cpu': ['mxnet==1.9.1'],
        'gpu': ['mxnet-cu112==1.9.1'],
        'test': ['pytest', 'nbclient', 'nbformat', 'ipykernel'],
        # scripts/serve.py (FastAPI on uvicorn; pydantic 2), its tests and
        # bench/bench_serve.py (httpx).
        'serve': ['fastapi>=0.100', 'uvicorn>=0.30', 'httpx>=0.23', 'fastapi-offline>=1.6'],
    },
)
