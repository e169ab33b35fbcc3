#!/usr/bin/env python
"""FM, DeepFM and logistic regression: where a step's time goes, and the
book's code, a PyTorch FM and the package timed per epoch on the same CTR
files.  Three parts (``--parts``):

* ``steps``: milliseconds per training step (forward, backward, Adam, the
  next step queued while the one before runs, as the package's loop does)
  on random batches of 2,048 rows of ML-1M's 25 feature fields, the
  variants interleaved in one process: the book's blocks (eager), the
  package's eager, hybridized with memory allocated each call, and
  hybridized with static memory (its default); and one operator alone,
  the sum over the fields of a batch's embeddings by ``np.sum`` and by a
  product (``models.fm.field_sums``), forward and backward.
* ``book``: on one synthetic CTR data set of the book's shape
  (``make_ctr``'s defaults: 15,000 + 3,000 rows, 34 fields), in one
  process, the book's pipeline (``d2l.CTRDataset``, shuffled rollover
  ``DataLoader`` s with ``d2l.get_dataloader_workers()`` workers, the
  chapter's blocks written here from its text, ``book_blocks``, and
  ``d2l.train_ch13`` without its plot) against ``rs.run(model,
  ctr_dir=...)``, what ``d2l-recsys train fm --ctr-dir`` runs; both with
  the book's settings (batches of 2,048, Adam, Xavier; FM k = 20 at lr
  0.02; DeepFM k = 10, MLP 30-20-10, dropout 0.1, lr 0.01).
* ``peers``: each contestant in a process of its own with the same
  threads (each of ``--threads``), ``--repeats`` times in turn: the
  package's FM, DeepFM and LR (``read_ctr``, the block, ``rs.train_ch13``
  over ``ArrayIter`` batches, as the train command runs them) and the FM
  written plainly in PyTorch (``bench/peers/torch_peers.py fm``, in a venv
  of its own), on the ``book`` shape and on ``ml-1m`` (``synthetic_ctr.ML_1M``:
  ML-1M's 25 fields, the 739,012 rows of RecBole's context protocol,
  test.csv its last tenth).  All train on the whole train.csv and score
  test.csv after every epoch; peak memory is each process's ``VmHWM``.

An epoch's seconds are its training and its evaluation of the test file
(the book's: ``train_ch13``'s whole time over its epochs).

    python bench/bench_ctr.py [--parts steps,book,peers] [--shapes
        book,ml-1m] [--work runs/ctr] [--epochs 3] [--book-epochs 30]
        [--threads 1,2] [--repeats 2] [--json bench/results/ctr.json]
"""
import argparse
import json
import os
import sys
import time

import harness

SHAPES = ('book', 'ml-1m')
OURS = ('fm', 'deepfm', 'lr')


# --- data --------------------------------------------------------------------
def data_folder(shape, work):
    """The CTR files of a shape, written once into ``work/data/SHAPE`` by
    ``make_ctr`` (seed 0); returns the folder."""
    from d2l_recsys.data.synthetic_ctr import INFO_FILE, ML_1M, make_ctr
    folder = os.path.join(work, 'data', shape)
    if not os.path.exists(os.path.join(folder, INFO_FILE)):
        info = make_ctr(folder, **(ML_1M if shape == 'ml-1m' else {}))
        print(f"{shape}: {info['num_rows']:,} rows written to {folder}")
    return folder


def data_facts(folder):
    """What ``synthetic_ctr.json`` says of the files, for the table."""
    from d2l_recsys.data.synthetic_ctr import INFO_FILE
    with open(os.path.join(folder, INFO_FILE)) as f:
        info = json.load(f)
    return dict(num_train=info['num_train'], num_test=info['num_test'],
                num_fields=info['num_fields'], bayes_auc=info['bayes_auc'][
                    'test'], values=sum(info['field_sizes']))


# --- steps -------------------------------------------------------------------
VARIANTS = {'book': "the book's block, eager",
            'eager': "the package's block, eager",
            'dynamic': 'hybridized, memory allocated each call',
            'static': 'hybridized, static memory (the default)'}


def steps_part(rounds=8, steps=20):
    """The ``steps`` part's rows (the module's docstring)."""
    import mxnet as mx
    import numpy as onp
    from mxnet import autograd, gluon, init, np

    import d2l_recsys as rs
    from d2l_recsys.data.synthetic_ctr import ML_1M
    from d2l_recsys.defaults import DEEPFM, FM
    from d2l_recsys.models.fm import field_sums
    BookFM, BookDeepFM = book_blocks()
    dims = onp.array(ML_1M['values_per_field'])
    size, nf, k = FM['batch_size'], len(dims), FM['num_factors']
    rng = onp.random.default_rng(0)
    offsets = onp.concatenate([[0], onp.cumsum(dims)[:-1]])
    batches = [(np.array(rng.integers(0, dims, (size, nf)) + offsets,
                         dtype='int32'),
                np.array(rng.integers(0, 2, size), dtype='float32'))
               for _ in range(steps)]
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    deep = (DEEPFM['num_factors'], list(DEEPFM['mlp_dims']),
            DEEPFM['dropout'])
    makers = {'fm': (lambda: BookFM(dims, k), lambda: rs.FM(dims, k),
                     FM['lr']),
              'deepfm': (lambda: BookDeepFM(dims, *deep),
                         lambda: rs.DeepFM(dims, *deep), DEEPFM['lr'])}

    def trainer_step(net, lr):
        trainer = gluon.Trainer(net.collect_params(), 'adam',
                                {'learning_rate': lr})

        def step(i):
            with autograd.record():
                l = loss(net(batches[i][0]), batches[i][1])
            l.backward()
            trainer.step(size)
            return l
        return step
    rows = []
    for model, (book, ours, lr) in makers.items():
        runs = {}
        for name in VARIANTS:
            mx.random.seed(0)
            net = book() if name == 'book' else ours()
            net.initialize(init.Xavier())
            if name in ('dynamic', 'static'):
                net.hybridize(static_alloc=name == 'static',
                              static_shape=name == 'static')
            runs[name] = trainer_step(net, lr)
        timed = harness.interleaved(runs, rounds, steps)
        for name, ms in timed.items():
            rows.append(dict(part='steps', model=model, variant=name,
                             text=VARIANTS[name], batch=size, num_fields=nf,
                             values=int(dims.sum()), ms=ms,
                             speedup=timed['book'] / ms))
            print(f'{model}: {VARIANTS[name]}: {ms:.2f} ms', flush=True)
    e = np.array(rng.normal(size=(size, nf, k)), dtype='float32')
    e.attach_grad()

    def op_step(op):
        def step(i):
            with autograd.record():
                op().backward()
            return e.grad
        return step
    ops = {'`np.sum` over the fields': lambda: np.sum(e, axis=1),
           'a product with stacked identities (`field_sums`)':
           lambda: field_sums(mx.nd, e.reshape(size, nf * k), nf, k)}
    timed = harness.interleaved({n: op_step(op) for n, op in ops.items()},
                                rounds, steps)
    for name, ms in timed.items():
        rows.append(dict(part='steps-op', op=name, shape=[size, nf, k],
                         ms=ms, speedup=list(timed.values())[0] / ms))
        print(f'{name}: {ms:.2f} ms', flush=True)
    return rows


# --- the book's side ---------------------------------------------------------
def book_blocks():
    """The chapter's FM and DeepFM as ``nn.Block`` s, with their sigmoid
    output: first-order weights through an ``nn.Embedding`` of width 1 and
    an ``nn.Dense(1)`` over their sum, the pairwise term from the sum and
    the squares of the field embeddings (reduced with ``np.sum``), DeepFM's
    MLP over the flattened embeddings."""
    from mxnet import np, npx
    from mxnet.gluon import nn

    class BookFM(nn.Block):
        def __init__(self, field_dims, num_factors):
            super().__init__()
            n = int(field_dims.sum())
            self.embedding = nn.Embedding(n, num_factors)
            self.fc = nn.Embedding(n, 1)
            self.linear_layer = nn.Dense(1, use_bias=True)

        def score(self, x):
            e = self.embedding(x)
            pairs = np.sum(e, axis=1) ** 2 - np.sum(e ** 2, axis=1)
            return (self.linear_layer(self.fc(x).sum(1))
                    + 0.5 * pairs.sum(1, keepdims=True)), e

        def forward(self, x):
            return npx.sigmoid(self.score(x)[0])

    class BookDeepFM(BookFM):
        def __init__(self, field_dims, num_factors, mlp_dims, drop_rate=0.1):
            super().__init__(field_dims, num_factors)
            self.width = len(field_dims) * num_factors
            self.mlp, units = nn.Sequential(), self.width
            for dim in mlp_dims:
                self.mlp.add(nn.Dense(dim, 'relu', True, in_units=units),
                             nn.Dropout(rate=drop_rate))
                units = dim
            self.mlp.add(nn.Dense(in_units=units, units=1))

        def forward(self, x):
            fm, e = self.score(x)
            return npx.sigmoid(fm + self.mlp(e.reshape(-1, self.width)))
    return BookFM, BookDeepFM


def run_book(model, folder, epochs):
    """The book's pipeline on ``folder``'s files: ``(data seconds, seconds
    of train_ch13, test AUC)``."""
    import mxnet as mx
    import numpy as onp
    from mxnet import gluon, init

    from d2l_recsys.ctr_evaluation import evaluate_ctr
    from d2l_recsys.defaults import DEEPFM, FM
    from d2l_recsys.data.iterators import ArrayIter
    d2l = harness.no_plot()
    BookFM, BookDeepFM = book_blocks()
    start = time.perf_counter()
    train = d2l.CTRDataset(os.path.join(folder, 'train.csv'))
    test = d2l.CTRDataset(os.path.join(folder, 'test.csv'),
                          feat_mapper=train.feat_mapper,
                          defaults=train.defaults)
    workers = d2l.get_dataloader_workers()
    train_iter = gluon.data.DataLoader(
        train, shuffle=True, last_batch='rollover', num_workers=workers,
        batch_size=FM['batch_size'])
    test_iter = gluon.data.DataLoader(
        test, shuffle=False, last_batch='rollover', num_workers=workers,
        batch_size=FM['batch_size'])
    data_seconds = time.perf_counter() - start
    devices = [mx.cpu()]
    mx.random.seed(0)
    net = BookFM(train.field_dims, FM['num_factors']) if model == 'fm' \
        else BookDeepFM(train.field_dims, DEEPFM['num_factors'],
                        list(DEEPFM['mlp_dims']), DEEPFM['dropout'])
    net.initialize(init.Xavier(), ctx=devices)
    trainer = gluon.Trainer(net.collect_params(), 'adam', {
        'learning_rate': (FM if model == 'fm' else DEEPFM)['lr']})
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    start = time.perf_counter()
    d2l.train_ch13(net, train_iter, test_iter, loss, trainer, epochs,
                   devices)
    train_seconds = time.perf_counter() - start
    # every test row (the book's rollover loader leaves the last ones out)
    rows = [test[i] for i in range(len(test))]
    x = onp.stack([r[0].asnumpy() for r in rows]).astype(onp.float32)
    y = onp.array([r[1][0] for r in rows], dtype=onp.float32)
    auc = evaluate_ctr(net, ArrayIter(x, y, batch_size=4096), devices,
                       outputs='probabilities')['auc']
    return data_seconds, train_seconds, auc


def book_part(work, epochs):
    """The rows of the ``book`` part: FM and DeepFM, the book's pipeline
    and the package's on the same files, ours first."""
    import d2l_recsys as rs
    folder = data_folder('book', work)
    rows = []
    for model in ('fm', 'deepfm'):
        print(f'book shape: {model}, ours then the book', flush=True)
        load = harness.load_average()
        r = rs.run(model, ctr_dir=folder, epochs=epochs, devices='cpu',
                   verbose=False, seed=0)
        o_data, o_epochs = r['seconds']['data'], r['epoch_seconds']
        b_data, b_train, b_auc = run_book(model, folder, epochs)
        ours, book = sum(o_epochs) / len(o_epochs), b_train / epochs
        rows.append(dict(
            part='book', model=model, epochs=epochs, load_at_start=load,
            book_data_seconds=b_data, book_epoch_seconds=book,
            book_auc=b_auc, ours_data_seconds=o_data,
            ours_epoch_seconds=ours, ours_epoch_list=o_epochs,
            ours_auc=r['auc'], speedup=book / ours,
            whole_speedup=(b_data + b_train) / (o_data + sum(o_epochs)),
            **data_facts(folder)))
        print(f'  book {book:.3f} s/epoch, ours {ours:.3f}: '
              f'{book / ours:.1f}x', flush=True)
    return rows


# --- separate processes ------------------------------------------------------
def child_main(args):
    """``--child``: one of ours on ``--folder``, as the train command runs
    it (read, block, Xavier, hybridized, Adam, ``train_ch13`` with the test
    file scored after every epoch); its figures as the harness's result."""
    import mxnet as mx
    from mxnet import gluon, init

    import d2l_recsys as rs
    from d2l_recsys import defaults
    from d2l_recsys.data.ctr import read_ctr
    from d2l_recsys.data.iterators import ArrayIter
    model, folder = args.child, args.folder
    settings = {'fm': defaults.FM, 'deepfm': defaults.DEEPFM,
                'lr': defaults.LR}[model]
    start = time.perf_counter()
    with open(os.path.join(folder, 'train.csv')) as f:
        num_feat = f.readline().count('\t')
    train, test = read_ctr(folder, num_feat=num_feat)
    train_iter = ArrayIter(train.features, train.labels,
                           batch_size=settings['batch_size'], shuffle=True,
                           seed=[0, 9])
    test_iter = ArrayIter(test.features, test.labels, batch_size=1 << 16)
    data_seconds = time.perf_counter() - start
    dims = train.field_dims.asnumpy()
    mx.random.seed(0)
    k = settings['num_factors']
    net = rs.LR(dims) if model == 'lr' else rs.FM(dims, k) if model == 'fm' \
        else rs.DeepFM(dims, k, list(settings['mlp_dims']),
                       settings['dropout'])
    net.initialize(init.Xavier(), ctx=mx.cpu())
    net.hybridize()
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    loss.hybridize()
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': settings['lr'], 'wd': 0.0})
    history = rs.train_ch13(net, train_iter, test_iter, loss, trainer,
                            args.epochs, [mx.cpu()], seed=0)
    harness.report(dict(data_seconds=data_seconds,
                        epoch_seconds=[h['seconds'] for h in history],
                        auc=history[-1]['auc'],
                        log_loss=history[-1]['log_loss']))


def one_run(name, folder, log, epochs, env, work):
    """One contestant's process on ``folder``'s files: its figures, its
    peak memory the process's own (``VmHWM`` as it exits)."""
    files = ('--train', os.path.join(folder, 'train.csv'),
             '--test', os.path.join(folder, 'test.csv'))
    if name == 'torch-fm':
        args = harness.python('bench/peers/torch_peers.py', 'fm', *files,
                              '--epochs', epochs,
                              executable=harness.ensure_venv('torch', work))
    else:
        args = harness.python('bench/bench_ctr.py', '--child', name,
                              '--folder', folder, '--epochs', epochs)
    done = harness.run(args, log, name, env, peak=True)
    r = done['result']
    if done['code'] or not r:
        return dict(status='failed', error=''.join(
            done['tail'].splitlines(True)[-5:]))
    s = r['epoch_seconds']
    return dict(status='ok', epoch_seconds=s, mean_epoch_seconds=sum(s) /
                len(s), wall_seconds=done['seconds'],
                peak_gib=done['peak_gib'], auc=r['auc'],
                data_seconds=r['data_seconds'], log_loss=r['log_loss'],
                library=r.get('library'))


def peer_rows(shape, work, epochs, threads, models, repeats):
    """One shape's rows, one per thread count and contestant (the PyTorch
    FM, then each of ours), each run ``repeats`` times in turn.  A row
    keeps every run; its figures are those of the run with the fastest
    epochs (the one the machine's other jobs disturbed least), its peak
    memory and slowest epoch the largest of all runs."""
    folder = data_folder(shape, work)
    runs = os.path.join(work, 'runs')
    os.makedirs(runs, exist_ok=True)
    names = ['torch-fm'] + [m for m in OURS if m in models]
    rows = []
    for t in threads:
        done = {name: [] for name in names}
        for k in range(repeats):
            for name in names:
                print(f'{shape}, {t} thread(s): {name}', flush=True)
                log = os.path.join(runs, f'{shape}-{name}-{t}-{k}.log')
                load = harness.load_average()
                run = one_run(name, folder, log, epochs,
                              harness.thread_env(t), work)
                done[name].append(dict(run, load_at_start=load))
        for name in names:
            rows.append(summary(shape, name, t, done[name], folder))
            print(text_line(rows[-1]), flush=True)
        peer, fm = rows[-len(names)], rows[-len(names) + 1]
        if fm['contestant'] == 'fm' and 'best' in fm and 'best' in peer:
            fm['speedup'] = peer['mean_epoch_seconds'] / \
                fm['mean_epoch_seconds']
    return rows


def summary(shape, name, threads, runs, folder):
    """A contestant's row from its runs."""
    row = dict(part='peers', shape=shape, contestant=name,
               side='peer' if name == 'torch-fm' else 'ours',
               threads=threads, runs=runs, **data_facts(folder))
    ok = [r for r in runs if r['status'] == 'ok']
    if not ok:
        return dict(row, status='failed', error=runs[-1]['error'])
    best = min(ok, key=lambda r: r['mean_epoch_seconds'])
    row.update(status='ok', best=runs.index(best),
               epochs=len(best['epoch_seconds']),
               mean_epoch_seconds=best['mean_epoch_seconds'],
               max_epoch_seconds=max(max(r['epoch_seconds']) for r in ok),
               peak_gib=max(r['peak_gib'] for r in ok),
               data_seconds=best['data_seconds'], auc=best['auc'],
               log_loss=best['log_loss'], library=best['library'])
    return row


def text_line(r):
    """One row of the ``peers`` part as text."""
    head = f"{r['shape']:6s} {r['threads']}T {r['contestant']:9s}"
    if r['status'] != 'ok':
        return f"{head} {r['status']}: {r['error'].strip()[-200:]}"
    return (f"{head} {r['mean_epoch_seconds']:7.3f} s/epoch (slowest "
            f"{r['max_epoch_seconds']:.3f})  AUC {r['auc']:.4f}  peak "
            f"{r['peak_gib']:.2f} GiB"
            + (f"  {r['speedup']:.1f}x" if 'speedup' in r else ''))


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--parts', default='steps,book,peers',
                   help='steps, book, peers (default: all three)')
    p.add_argument('--shapes', default=','.join(SHAPES),
                   help='of the peers part (default: book,ml-1m)')
    p.add_argument('--models', default=','.join(OURS),
                   help='ours in the peers part (default: fm,deepfm,lr)')
    p.add_argument('--work', default=os.path.join('runs', 'ctr'),
                   help='data, venvs and runs (default: runs/ctr)')
    p.add_argument('--epochs', type=int, default=3, help='(peers part)')
    p.add_argument('--book-epochs', type=int, default=30,
                   help="(book part; the book's 30)")
    p.add_argument('--threads', default=f'1,{os.cpu_count()}', help="each "
                   "library's threads, peers part (default: 1,every core)")
    p.add_argument('--repeats', type=int, default=2, help='(peers part)')
    p.add_argument('--child', help=argparse.SUPPRESS)
    p.add_argument('--folder', help=argparse.SUPPRESS)
    if '--child' in sys.argv:
        return child_main(p.parse_args())
    harness.add_option(p)
    args = p.parse_args()
    parts, shapes = args.parts.split(','), args.shapes.split(',')
    models, threads = args.models.split(','), \
        [int(t) for t in args.threads.split(',')]
    if not set(parts) <= {'steps', 'book', 'peers'} or not set(shapes) <= \
            set(SHAPES) or not set(models) <= set(OURS):
        p.error('--parts: steps,book,peers; --shapes: book,ml-1m; --models')
    work = os.path.abspath(args.work)
    rows = []
    if 'steps' in parts:
        rows += steps_part()
    if 'book' in parts:
        rows += book_part(work, args.book_epochs)
    if 'peers' in parts:
        for shape in shapes:
            rows += peer_rows(shape, work, args.epochs, threads, models,
                              args.repeats)
    harness.write(args.json, 'bench_ctr', rows)


if __name__ == '__main__':
    main()
