#!/usr/bin/env python
"""Render docs/benchmarks.md from the benchmark results the repository
keeps (bench/results/*.json, written by the scripts' ``--json FILE``).

One section per published claim; every figure appears once, next to the
command, date, commit and machine that made it.

    python bench/docs.py            # writes docs/benchmarks.md
    python bench/docs.py --check    # exit 1 if the page is not its data's
"""
import argparse
import fnmatch
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, 'bench', 'results')
PAGE = os.path.join(ROOT, 'docs', 'benchmarks.md')


def secs(x):
    """Seconds, to three significant figures or tenths."""
    return f'{x:.3f}' if x < 1 else f'{x:.2f}' if x < 10 else f'{x:.1f}'


def times(x):
    """A ratio, as ``68×``, ``6.7×`` or ``0.85×``."""
    return f'{x:.0f}×' if x >= 10 else f'{x:.1f}×' if x >= 1 else f'{x:.2f}×'


def num(x):
    """A count with thousands separators."""
    return f'{x:,}'


# --- what each claim's table shows -----------------------------------------
def data_rows(m):
    return [[secs(m['d2l_seconds']),
             f"{secs(m['ours_seconds'])} (best of {m['repeats']})",
             times(m['speedup'])]]


def end_to_end_rows(m):
    return [[m['model'], secs(m['book_data_seconds']),
             secs(m['book_train_seconds']), f"{m['book_rmse']:.4f}",
             secs(m['ours_data_seconds']), secs(m['ours_train_seconds']),
             f"{m['ours_rmse']:.4f}", times(m['speedup'])]]


def eval_ml100k_rows(m):
    return [['`d2l.evaluate_ranking`', secs(m['d2l_seconds']),
             secs(m['d2l_cpu_seconds']), f"{m['d2l_hit_rate']:.4f}",
             f"{m['d2l_auc']:.4f}"],
            [f"`rs.evaluate_ranking` (median of {m['repeats']})",
             secs(m['ours_seconds']), secs(m['ours_cpu_seconds']),
             f"{m['ours_hit_rate']:.4f}", f"{m['ours_auc']:.4f}"],
            ['speed-up', times(m['speedup']), times(m['cpu_speedup']),
             'same' if m['same_numbers'] else 'different', '']]


def eval_ml20m_rows(m):
    return [[m['protocol'], f"{num(m['users'])} × {num(m['items'])}",
             num(m['eval_users']), secs(m['build_seconds']),
             secs(m['seconds']), f"{m['peak_gb']:.2f}"]]


def sparse_grad_rows(m):
    return [[m['model'], m['table'], num(m['params']), num(m['batch']),
             f"{m['dense_ms']:.2f}", f"{m['sparse_ms']:.2f}",
             times(m['speedup'])]]


def autorec_step_rows(m):
    return [[num(m['width']), f"{m['density']:.3f}", f"{m['dense_ms']:.1f}",
             f"{m['sparse_ms']:.1f}", times(m['dense_per_sparse']),
             f"{m['update_ms']:.1f}", times(m['dense_per_update'])]]


SCALE_MODELS = ['mf', 'autorec', 'autorec-dense', 'gmf', 'neumf']


def scale_rows(m):
    # Left out (see the section's text): ML-20M and MF, whose epochs later
    # runs measure in the floors' and the peers' tables.
    if m['shape'] == 'ml-20m' or m['model'] == 'mf':
        return []
    head = [m['shape'], m['model']]
    if m['status'] != 'ok':
        return [head + [f"{m['status']}: {m.get('reason', m.get('error'))}"]
                + [''] * 5]
    ph = m['phases']
    peak = m['peak_gib'] if 'peak_gib' in m else m['peak_mb'] / 1024
    return [head + [f'{ph[k]:.1f}' if k in ph else '—' for k in
                    ('read', 'split', 'iterators', 'epochs', 'evaluate')]
            + [f'{peak:.2f}']]


def dist_rows(m):
    import bench_dist    # its table's cells, so that both read the same
    return [[m['model'], bench_dist.label(m), str(m['batch_per_worker'])]
            + bench_dist.cells(m)]


def serve_rows(m):
    what = {'in-process': 'in-process `recommend()`',
            'http': f"HTTP, {m['workers']} worker(s)",
            'soak': f"soak of {m.get('seconds', 0):.0f} s, 2 workers"}
    return [[what[m['run']], str(m['clients']), f"{m['rps']:.0f}",
             f"{m['p50']:.2f}", f"{m['p99']:.2f}", num(m['n']),
             str(m['failures']), f"{m['server_cpu']:.2f}"
             if 'server_cpu' in m else '—', f"{m['client_cpu']:.2f}"]]


def all_users_rows(m):
    return [[m['model'], f"{num(m['users'])} × {num(m['items'])}",
             num(m['training_pairs']), secs(m['seconds']),
             f"{m['users'] / m['seconds']:,.0f}",
             f"{m['peak_rss_mb'] / 1024:.2f}"]]


def ranking_rows(m):
    def metric(key):       # not every run published every metric
        return f'{m[key]:.4f}' if key in m else '—'
    if m['part'] == 'whole-run':
        ours = ["`scripts/train_neumf.py --protocol book` (the project's "
                'NeuMF: logit output, Xavier tower)',
                secs(m['ours_seconds']), metric('ours_hit_rate'),
                metric('ours_auc')]
        if 'book_seconds' not in m:             # run with --book-epochs 0
            return [ours]
        return [[f"the book's pipeline, {m['book_epochs']} epochs",
                 secs(m['book_seconds']), '', ''], ours,
                ['speed-up', times(m['speedup']), '', '']]
    return [["the book's NeuMF after the book's run, d2l's evaluator "
             "(the book's item range)", '', metric('d2l_hit_rate'),
             metric('d2l_auc')],
            ['the same network ranked against every unseen item', '',
             metric('all_items_hit_rate'), metric('all_items_auc')]]


def caser_rows(m):
    """A run per seed, their mean, and the book's evaluation call on the
    first seed's network."""
    def four(key):
        return f'{m[key]:.4f}'
    if m['part'] == 'run':
        return [[f"`rs.run('caser', seed={m['seed']})`", secs(m['seconds']),
                 four('hit_rate'), four('auc')]]
    if m['part'] == 'seeds':
        return [[f"mean ± sd of the {m['seeds']} seeds (slowest "
                 f"{secs(m['max_seconds'])} s)",
                 f"{secs(m['seconds'])} ± {secs(m['seconds_sd'])}",
                 f"{four('hit_rate')} ± {four('hit_rate_sd')}",
                 f"{four('auc')} ± {four('auc_sd')}"]]
    return [["`d2l.evaluate_ranking`, the book's item range",
             secs(m['d2l_seconds']), four('d2l_hit_rate'), four('d2l_auc')],
            [f"`rs.evaluate_ranking`, the same call (median of "
             f"{m['repeats']})", secs(m['ours_seconds']),
             four('ours_hit_rate'), four('ours_auc')],
            ["`rs.evaluate_ranking`, the network behind a plain `forward` "
             '(pair grid)', secs(m['plain_seconds']), four('plain_hit_rate'),
             four('plain_auc')],
            ['evaluation speed-up over d2l (block scores; pair grid)',
             f"{times(m['speedup'])}; {times(m['plain_speedup'])}",
             'same' if m['same_numbers'] else 'different', ''],
            ['`rs.evaluate_ranking`, every unseen item ranked', '',
             four('all_items_hit_rate'), four('all_items_auc')]]


def floor_rows(m):
    """Our epoch beside its floor; AutoRec's also with its evaluation."""
    head = [m['shape'], m['model']]
    if m['status'] != 'ok':
        return [head + [f"{m['status']}: {m.get('error', '')}"] + [''] * 5]
    rows = [head + [secs(m['ours_seconds']), secs(m['floor_seconds']),
                    times(m['ratio']), m['floor_text'],
                    f"{m['peak_gib']:.2f}",
                    f"{m['metric']} {m['metric_value']:.4f}"]]
    if 'ours_with_eval_seconds' in m:
        rows.append([m['shape'], m['model'] + ' + evaluation',
                     secs(m['ours_with_eval_seconds']),
                     secs(m['floor_seconds']), times(m['ratio_with_eval']),
                     'the same floor', '',
                     f"global mean's RMSE {m['global_mean_rmse']:.4f}"])
    return rows


def bounds_rows(m):
    """A part: the cheapest sum of MXNet's operators, beside a floor or a
    peer, and the package's run where it was measured in the same run."""
    if m['status'] != 'ok':
        return [[m['part'], f"{m['status']}: {m.get('error', '')}"] +
                [''] * 4]
    best = f"{times(m['speedup'])} faster" if 'speedup' in m \
        else f"{times(m['ratio'])} the floor"
    ours = [f"{secs(m['ours'])} s", f"{m['ours_ratio']:.2f}×"] \
        if 'ours' in m else ['', '']
    return [[m['part'], f"{secs(m['bound'])} {m['unit']}",
             m['reference_text'], best] + ours]


# The length of AutoRec's rows (the number of users) at each bounds part.
WIDTHS = {'autorec-ml100k': 943, 'autorec-ml10m': 69_878,
          'autorec-ml20m': 138_493}


def decoder_rows(m):
    """AutoRec's decoder on one batch, whole and chunk by chunk."""
    if 'decoder_chunked' not in m:
        return []
    whole, chunked = m['decoder_full_take'], m['decoder_chunked']
    return [[m['part'], num(WIDTHS[m['part']]),
             f"{m['nnz_per_step'] / 256:,.0f}", f'{whole:.1f}',
             f'{chunked:.1f}',
             'whole' if whole < chunked else 'chunk by chunk']]


def peers_rows(m):
    """A contestant on a shape, with ours against the task's peer."""
    who = m['contestant'] + (f" ({m['library']})" if m.get('library')
                             else f" (`{m['command']}`)")
    data = f" (synthetic, floor {m['floor_rmse']:.3f})" \
        if m['data'] == 'synthetic' else ''
    head = [m['shape'] + data, m['task'], who]
    if m['status'] != 'ok':
        return [head + [f"{m['status']}: {m.get('error', '')}"] + [''] * 6]
    vs = [times(m['speedup']), f"{m['rmse_diff']:+.4f}"] \
        if 'speedup' in m else ['', '']
    return [head + [str(m['epochs']), f"{m['test_rmse']:.4f}",
                    num(m['num_test']), secs(m['train_test_seconds']),
                    secs(m['wall_seconds'])] + vs]


def peers_order(m):
    import bench_peers   # its order, so that both sort alike
    return bench_peers.order(m)


def ctr_steps_rows(m):
    """A training step of FM or DeepFM in one formulation, or one
    operator alone, beside the book's block (or ``np.sum``)."""
    if m['part'] == 'steps':
        return [[m['model'], m['text'], f"{m['ms']:.2f}",
                 times(m['speedup'])]]
    if m['part'] == 'steps-op':
        b, f, k = m['shape']
        return [[f'sum over the fields of ({num(b)}, {f}, {k}) embeddings, '
                 'forward and backward', m['op'], f"{m['ms']:.2f}",
                 times(m['speedup'])]]
    return []


def ctr_book_rows(m):
    """FM or DeepFM: the book's pipeline and the package's run."""
    if m['part'] != 'book':
        return []
    return [[f"{m['model']}, {m['epochs']} epochs",
             secs(m['book_data_seconds']),
             secs(m['book_epoch_seconds']), f"{m['book_auc']:.4f}",
             secs(m['ours_data_seconds']), secs(m['ours_epoch_seconds']),
             f"{m['ours_auc']:.4f}", times(m['speedup']),
             times(m['whole_speedup'])]]


def ctr_peers_rows(m):
    """A contestant on a shape's CTR files with some threads."""
    if m['part'] != 'peers':
        return []
    who = m['contestant'] + (f" ({m['library']})" if m.get('library')
                             else '')
    head = [m['shape'], str(m['threads']), who, num(m['num_train'])]
    if m['status'] != 'ok':
        return [head + [f"{m['status']}: {m.get('error', '')}"] + [''] * 5]
    return [head + [secs(m['mean_epoch_seconds']),
                    secs(m['max_epoch_seconds']), f"{m['auc']:.4f}",
                    f"{m['peak_gib']:.2f}",
                    times(m['speedup']) if 'speedup' in m else '']]


# One section per claim: (files, title, what it measures, table header,
# rows of one measurement[, sort key of a measurement]).
SECTIONS = [
    ('data.json', 'Reading MovieLens 100K', """\
Read `u.data`, split it at random 90/10 and load both parts as the book's
chapters do: d2l's own functions against this package's functions of the
same names, in one process.""",
     ['d2l (s)', 'd2l_recsys (s)', 'speed-up'], data_rows),
    ('end-to-end.json', 'AutoRec and MF, whole runs', """\
The book's settings, data loading plus training with an evaluation after
every epoch (AutoRec 25 epochs, MF 20): the book's pipeline (d2l's loaders
and `d2l.train_recsys_rating`) against the package's, on the same CPU in
one process, imports excluded. The book's plot is skipped, which only makes
the book faster. "book RMSE" is the book's own evaluator: for MF that is a
running average of per-batch RMSEs, not the exact RMSE of the test set.""",
     ['model', 'book data (s)', 'book train (s)', 'book RMSE',
      'ours data (s)', 'ours train (s)', 'ours RMSE', 'speed-up'],
     end_to_end_rows),
    ('eval-ml100k.json', 'Ranking evaluation on MovieLens 100K', """\
`rs.evaluate_ranking` has `d2l.evaluate_ranking`'s signature; both evaluate
the same network (the book's NeuMF, untrained) with the book's item range
and must give the same Hit@50 and AUC. CPU time counts every thread.""",
     ['evaluator', 'time (s)', 'CPU time (s)', 'Hit@50', 'AUC'],
     eval_ml100k_rows),
    ('eval-ml20m.json', "Full ranking at ML-20M's shape", """\
Every user against every item (no sampled candidates) by a GMF with random
weights, the evaluator built from 20M synthetic interactions with
popularity skew; one held-out interaction per user. Peak is the resident
memory of the process while it evaluates.""",
     ['protocol', 'users × items', 'users evaluated', 'build (s)',
      'evaluation (s)', 'peak (GiB)'], eval_ml20m_rows),
    ('sparse-grad.json', 'Dense and row-sparse embedding gradients', """\
Milliseconds per training step (forward, backward, Adam; hybridized) with
dense embedding gradients and with row-sparse ones (lazy Adam updates), at
the table sizes of three releases; the two kinds of step alternate so that
both see the same machine load. `--sparse-grad/--no-sparse-grad` chooses
between them; by default the gradients are row-sparse when users plus
items number at least 8,192 and at least 16 times the batch size.""",
     ['model', 'tables', 'parameters', 'batch', 'dense (ms)',
      'row-sparse (ms)', 'dense / row-sparse'], sparse_grad_rows),
    ('autorec-step.json', "AutoRec's training step", """\
One step (forward, loss, backward, Adam) on 256 rows with random observed
entries: the book's dense formulation against the sparse one (CSR rows,
decoder evaluated at the observed entries), at ML-100K's width (the number
of users, the length of an item's row) and density.
"update" is Adam's update of the full weights alone: no step that keeps
the book's optimizer can be faster, so "dense / update" bounds how much
faster than a dense step any sparse step can be. At ML-10M's and ML-20M's
widths the same update is measured with each epoch's floor (below).""",
     ['width', 'observed', 'dense (ms)', 'sparse (ms)', 'dense / sparse',
      'update (ms)', 'dense / update'], autorec_step_rows),
    ('scale-*.json', 'How cost grows with the data', """\
One epoch plus evaluation of every model with each script's default options
(ranking: `--protocol ncf --batch-size 65536 --eval-users 20000`), on
synthetic data of each release's shape (`scripts/make_synthetic.py`), each
run in a process of its own: seconds per phase from its `metrics.json` and
the peak resident memory of the process. `autorec` is the sparse
formulation (the default from ML-10M on), `autorec-dense` the book's.
These runs also measured ML-20M's shape and MF; those rows are left out:
the package has become faster since, and later runs measure the same
epochs, ML-20M's in "Each training epoch beside its floor" and MF's at
ML-100K and ML-1M in "Against the peers a practitioner would use".""",
     ['shape', 'model', 'read (s)', 'split (s)', 'iterators (s)',
      'epoch (s)', 'evaluation (s)', 'peak (GiB)'], scale_rows,
     lambda m: (m['num_ratings'], SCALE_MODELS.index(m['model']))),
    ('dist.json', "MXNet's parameter server on one machine", """\
Real ML-100K, 2 epochs a run, the global batch fixed (MF 512, NeuMF 256;
each of N workers takes global/N), one server, scheduler, server and
workers on the same 2-core CPU: this measures the parameter server's
overhead, not its scaling. With dense weights every worker pushes every
gradient and pulls every parameter in full each step; "(would)" is what a
`row_sparse_pull` of the batch's rows would move. MXNet 1.9.1's server
aborts on row-sparse gradients of dense weights (‡), so the package
refuses `--sparse-grad` under `dist_*`; the bench-only SparseEmbedding MF shows
the row-sparse pull working. "steps-only" leaves evaluation out.""",
     ['model', 'run', 'batch / worker', 'ex/s per worker', 'ex/s total',
      'steps-only ex/s', 'wall (s)', 'test', 'pulled / step / worker',
      'pushed / step / worker'], dist_rows),
    ('serve.json', 'Serving top-10 requests', """\
An ML-100K MF run served by `scripts/serve.py` (FastAPI on uvicorn),
random known users, client and server on the same machine; the in-process
row calls `Predictor.recommend` directly. CPU columns are milliseconds of
CPU per request on each side, which stay meaningful on a shared machine
when throughput does not.""",
     ['run', 'clients', 'req/s', 'p50 (ms)', 'p99 (ms)', 'requests',
      'failed', 'server CPU (ms)', 'client CPU (ms)'], serve_rows),
    ('all-users-*.json', "Top-10 for every user at ML-20M's shape", """\
`recommend.py --all-users`'s code path (top-10 of every user into a CSV)
for an untrained model with random weights and 20M random training
interactions, in a process of its own.""",
     ['model', 'users × items', 'training pairs', 'seconds', 'users/s',
      'peak (GiB)'], all_users_rows),
    ('ranking.json', "The book's NeuMF section, whole", """\
The book-protocol NeuMF run, 10 epochs with an evaluation after each: the
book's pipeline (its NeuMF: sigmoid output, Normal(0.01) init, d2l's
`PRDataset` and evaluator) against `scripts/train_neumf.py --protocol book`.
The book's network barely learns: its scores saturate and tie, so d2l's
evaluator ranks by item id.""",
     ['run', 'seconds', 'Hit@50', 'AUC'], ranking_rows),
    ('caser.json', "Caser with the book's settings", """\
Real ML-100K, the book's Caser settings (L 5, d 16, d' 4, k 10, dropout
0.05, BPR, Adam lr 0.04, wd 1e-5, 8 epochs, batches of 4,096, the seq-aware
split), whose training the book leaves disabled ("takes > 1h"). Each seed
is one `rs.run('caser', seed=S)` on the CPU: reading the data, 8 epochs and
an evaluation after each, every unseen item ranked. Below them, the book's
evaluation call `evaluate_ranking(net, test_iter, test_seq_iter,
candidates, num_users, num_items, devices)` on the first seed's network,
each user ranked with its latest 5 training items: d2l's function (a
`DataLoader` and network calls per user; one run over all 943 users)
against `rs.evaluate_ranking` (one convolution pass per user, one matrix
product with the item table), both over the book's item range (its first
943 items), and `rs.evaluate_ranking` on the same network behind a plain
`forward`, as the book's own class is: every (user, item) pair through the
network. The last row ranks every unseen item, as the runs do.""",
     ['run', 'seconds', 'Hit@50', 'AUC'], caser_rows),
    ('floor*.json', 'Each training epoch beside its floor', """\
One training epoch of each model (the script's defaults; NeuMF with
`--protocol ncf --batch-size 131072 --eval-users 20000`, the cheapest
layout of the next table) on synthetic data
of a release's shape, beside a floor measured in the same run, each part in
a process of its own. MF's floor is a bare hybridized MXNet loop of the same
block, loss, batch and Adam (host batches copied in, forward, backward,
step; one wait at the end). NeuMF's is arithmetic plus memory: FLOPs per
example from the layer sizes (2 × in × out per dense layer and the GMF
product, backward twice the forward) times positives × (1 + negatives),
at the sgemm rate measured on the tower's shapes at the batch size (the
faster of MXNet's `dot` and `FullyConnected`, which the Dense layers run);
plus the embedding rows read and their gradients written per example and
Adam's read and write of w, m, v for each batch's expected distinct rows,
at the bandwidth of a 1 GB copy. AutoRec's is its steps times one Adam
update of its full weights. The AutoRec "+ evaluation" row divides the
epoch with its evaluation by the same floor; its last column is the RMSE
of predicting the training mean, for the test RMSE above it.
`autorec-mean` is AutoRec with `--bias-init mean`. A bare loop that never
waits queues tens of thousands of steps, and on large data it can end
slower than the package's loop, which waits for the step before; an MF
ratio below 1× means the package's loop is at MXNet's floor.""",
     ['shape', 'model', 'ours (s)', 'floor (s)', 'ours / floor',
      'floor made of', 'peak (GiB)', 'test'], floor_rows),
    ('bounds.json', "How far MXNet's own operators can go", """\
The cheapest training step MXNet 1.9's own operators allow, where the
package's epochs stay far from their floors (above) and its AutoRec level
with the PyTorch one (below), by `bench/bench_bounds.py`: every operator a
step of the model cannot do without (the products, the hidden layer's
bias, sigmoid and dropout, the loss, Adam's update), each timed alone in
the layout and formulation that makes it cheapest, summed and scaled to
the epoch (or, for ML-100K, to the 25 epochs with an evaluation after
each, on one thread as the peers run). Python, the data, the engine's
scheduling and everything else a real run does are left out, so a real
run can only be slower than this sum: its last column is how close to the
floor, or how much faster than the peer, any arrangement of MXNet's
operators can be. Coming closer takes kernels MXNet does not have: a
product at the observed entries only, gradients fused into the optimizer's
update, embeddings fused with the dense layers. AutoRec's floor is defined
as in the table above (its steps times one Adam update) and measured in
this run; NeuMF's takes that table's FLOPs and bytes over the sgemm rate
and bandwidth measured in this run. On ML-100K the sum counts the steps
the run takes (the book's loader rolls left-over rows into the next epoch:
164 in 25 epochs). "ours" is the package's run measured in the same run:
AutoRec on ML-100K as the peers' table runs it (the best of three runs'
train+test seconds), NeuMF one epoch of `scripts/train_neumf.py` in the
layout the sum finds cheapest at ML-20M's shape (batches of 131,072, the
tower's first layer split, which the model takes by itself from 65,536
users plus items on), negative sampling included; "ours / sum" is how far
the run is from the operators' sum.""",
     ['part', 'cheapest sum', 'beside', 'at best', 'ours',
      'ours / sum'], bounds_rows),
    ('bounds.json', "AutoRec's decoder, whole or chunk by chunk", """\
The two ways `_DecodeAt` (`d2l_recsys/models/autorec.py`) computes the
decoder's outputs at a batch's observed entries, timed alone in the run
above on one batch of 256 rows (ML-100K on one thread, the others on every
core): one `FullyConnected` of the whole batch and its entries taken out,
or chunk by chunk, each chunk multiplying only the rows of the weight its
entries need. Decoding whole costs the width a row, chunk by chunk about
the entries of a chunk's rows; the decoder decodes whole when the width is
at most 40 times those (`_DecodeAt.WHOLE_RATIO`), which these timings
place between ML-10M's training batches (whole) and ML-20M's (chunks).""",
     ['part', 'width', 'entries a row', 'whole (ms)', 'chunk by chunk (ms)',
      'faster'], decoder_rows),
    ('peers.json', 'Against the peers a practitioner would use', """\
The package's MF and AutoRec (the training scripts with the book's
settings; `mf-fast` is MF's `--preset fast`, `autorec-mean` AutoRec with
`--bias-init mean`) against Surprise's `SVD` (30 factors, otherwise its defaults:
SGD, 20 epochs, one thread) and against the same AutoRec written plainly
in PyTorch (`bench/peers/torch_autorec.py`). Every contestant is a process
of its own (the peers in virtual environments of their own) and reads the
same two files: one random 90/10 split of each shape, real ML-100K and
synthetic data of the larger releases' shapes, whose "floor" is the RMSE
of the planted model that made them, what no model beats on average.
"train+test" is everything after reading the data (training, and an
evaluation after every epoch; Surprise evaluates once), measured inside
each program; "wall" is the whole process, start-up and reading included. The speed-up is the peer's train+test seconds over
ours (above 1×, ours is faster); "RMSE − peer" below zero means ours is
more accurate. Surprise clips its predictions to the rating scale, the
package does not. The time-to-RMSE curves (Surprise's from separate fits
of 1, 2, 5, 10 and 20 epochs), from the same run:

![Test RMSE against seconds, per shape and task](peers.png)

(`bench_peers.py --plot FILE` writes them as an interactive page;
`peers.png` is that page in headless Chromium: `chromium --headless
--screenshot=docs/peers.png --window-size=1400,420 file://FILE`.)""",
     ['shape', 'task', 'contestant', 'epochs', 'test RMSE', 'test ratings',
      'train+test (s)', 'wall (s)', 'speed-up', 'RMSE − peer'], peers_rows,
     peers_order),
    ('ctr*.json', "FM and DeepFM: where a training step's time goes", """\
Milliseconds per training step (forward, backward, Adam, the next step
queued while the one before runs) on random batches of 2,048 rows of
ML-1M's 25 feature fields (10,318 values), the variants interleaved in
one process (no reseeding for dropout, which the package's loop adds for
DeepFM). The book's blocks (written in `bench/bench_ctr.py` from the
chapter's text) and the package's computed every sum with MXNet's `np.sum`
and squared with `**`; on the CPU those reductions run several times
slower than a BLAS product of the same numbers, and they were most of an
FM step. The package's blocks now sum by products (`models.fm`:
`field_sums`, `row_sums`; the squared norms of the features' vectors
looked up with their first-order weights) and, hybridized, keep static
memory. The same model: the logits and gradients equal the plain
formulas' (`tests/test_fm.py`), up to float rounding. The last rows time
the one operator alone.""",
     ['model', 'variant', 'ms a step', "the book's / this"],
     ctr_steps_rows),
    ('ctr*.json', "FM and DeepFM against the book's code", """\
One synthetic CTR data set of the book's shape (`make_ctr`'s defaults:
15,000 training and 3,000 test rows, 34 fields), in one process: the
book's pipeline (`d2l.CTRDataset`, Gluon `DataLoader`s with d2l's workers
and `last_batch='rollover'`, the chapter's blocks run eagerly,
`d2l.train_ch13` without its plot) against `rs.run(model, ctr_dir=...)`,
what `d2l-recsys train fm --ctr-dir` runs; the book's settings on both
sides (batches of 2,048, Adam, Xavier; FM k 20 at lr 0.02, DeepFM k 10, an
MLP of 30-20-10 with dropout 0.1, lr 0.01), epochs as the table says
(the book's: 30). An epoch is its training and its evaluation of the
test file (the book's: `train_ch13`'s time over its epochs). The AUC is
of the test file after the last epoch; the book's blocks end in a sigmoid
that its loss applies again (`models.fm`), which is why they barely
learn.""",
     ['model', 'book data (s)', 'book s/epoch', 'book AUC',
      'ours data (s)', 'ours s/epoch', 'ours AUC', 'speed-up per epoch',
      'data and epochs'], ctr_book_rows),
    ('ctr*.json', "FM against a PyTorch FM, and at ML-1M's shape", """\
Each contestant a process of its own on the same CTR files, with the same
threads, each run twice in turn: the package's FM, DeepFM and logistic
regression (`read_ctr`, the block, `rs.train_ch13` over `ArrayIter`
batches, as the train command runs them) and the FM written plainly in
PyTorch (`bench/peers/torch_fm.py`: `nn.Embedding` tables, sums over the
fields, `BCEWithLogitsLoss`, Adam). The book's settings (batches of 2,048,
FM k 20 at lr 0.02). Shapes: the book's (above) and ML-1M's
(`synthetic_ctr.ML_1M`: 25 fields of ML-1M's sizes, 739,012 rows as in
RecBole's context protocol, test.csv the last tenth); every contestant
trains on the whole train.csv and scores test.csv after each epoch. An
epoch's seconds are its training and that evaluation, from the faster of
the two runs; the slowest epoch and the peak resident memory (the
process's own high-water mark, `VmHWM`) are the worst of both. The
speed-up is PyTorch's seconds an epoch over the package's FM's. With as
many threads as cores, on a machine whose cores other jobs keep busy
(the load average is given below), PyTorch's OpenMP threads wait for one
another; its one-thread rows are the fair comparison there.""",
     ['shape', 'threads', 'contestant', 'train rows', 's/epoch',
      'slowest epoch (s)', 'test AUC', 'peak (GiB)', 'speed-up'],
     ctr_peers_rows),
]


# Result files kept in bench/results/ but not shown, and why: a later run
# measured the same figures, and the page shows one value of each.
SUPERSEDED = {
    'autorec-update.json': (
        "AutoRec's steps at ML-10M's and ML-20M's widths, measured at "
        '`2a599ca` before the decoder could decode a batch whole; the Adam '
        'update it times is measured again with each epoch\'s floor '
        '(`floor-ml10m.json`, `floor.json`, `bounds.json`)'),
}

# Figures that rules of the code were drawn from and no result file holds:
# (figure, measured on, the rule it supports, the commit that recorded it).
ONCE = [
    ("A dense (width × batch) scatter of AutoRec's decoder output "
     'gradient: 0.06–0.1 s a step', "ML-20M's shape",
     "`csr.Entries.by_col` builds the transposed gradient from the batch's "
     'own index arrays instead', '8fa3c81'),
    ("AutoRec's sparse training step against the dense one (256 rows, 500 "
     'hidden units, widths 943 to 69,878): even at 2.5–4% of the entries '
     'observed whatever the width; sparse 1.04–1.36× faster at 2%, '
     '1.5–1.9× at 0.5%', '`bench/bench_autorec_step.py`, 2 cores',
     '`data.rows.choose_formulation`: sparse below 2% observed '
     '(`SPARSE_MAX_DENSITY`)', '84e9e21'),
    ('An AutoRec epoch at ML-20M\'s shape, sparse against dense: '
     '1.8–2.0× faster', '`bench/bench_autorec.py`, 2 cores',
     'the same rule', '84e9e21'),
    ("MXNet 1.9's sum over the last axis against a dot with ones: ~5× "
     'slower, 2 ms a step at batch 8,192', 'MF, one core',
     '`models.mf.MF` sums its factor products with a dot', '98e756b'),
    ('`npx.relu` against the legacy `Activation`, forward and backward of '
     'a (65,536, 32) batch: 8.4 ms against 13–16 ms (~1.6×)', 'one core',
     "the towers' ReLU (`models.neumf._ReLUDense`)", 'd8fe73f'),
    ('`np.concatenate` against the legacy `concat`, forward and backward '
     'of a (65,536, 64) result: 43 ms against 14 ms (~3×)', 'one core',
     'the towers join embeddings with `concat` (`models.neumf._concat`)',
     'f1826ed'),
    ("Negative sampling's first lookup grouped by user against in data "
     'order: 25× faster', "ML-20M's size",
     '`data.iterators.sample_negatives` groups it by user', '4fd8766'),
    ('Top-10 by block maxima against `argpartition` (26,744 items, k=10): '
     '100 against 400 µs a row, median of 15 interleaved runs',
     "ML-20M's width, 2 cores", '`serving.predictor.top_k_rows`',
     'a160dde'),
    ('`mx.random.seed`: ~1.2 ms a call, as much as an MF step at batch 512',
     'ML-100K MF', '`fit` reseeds before each step only networks with '
     'dropout (`train.draws_random`)', '3678ef3'),
    ("OpenMP on both cores against MXNet's default of half: AutoRec's 25 "
     'epochs on ML-100K in 3.3 s against 4.7 s, same numbers', '2 cores',
     '`scripts/train_autorec.py` gives OpenMP every core', '0594255'),
    ("glibc's hugetlb tunable: a transpose into a new array 44 ms against "
     "118 ms", "AutoRec at ML-20M's shape, 2 cores",
     '`scripts/train_autorec.py` restarts itself with '
     '`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`', 'dcbced2'),
]


def once_section():
    """The figures of ``ONCE``, and the result files not shown."""
    rows = [[figure, where, rule, f'`{commit}`']
            for figure, where, rule, commit in ONCE]
    hidden = '\n'.join(f'- `bench/results/{name}`: {why}.'
                       for name, why in sorted(SUPERSEDED.items()))
    return '\n\n'.join([
        '## Figures measured once, without a result file',
        """\
Rules in the package's code were drawn from measurements. Where a table
above holds the figure, the code names its result file; these figures no
result file holds. Each was measured once, while the commit named was
made, on a 2-core CPU shared with other jobs, and not re-run since: they
stand for the rule beside them, not for the package's current speed.""",
        table(['figure', 'measured on', 'rule it supports', 'commit'],
              rows),
        'Result files kept but not shown, a later run having measured the '
        'same figures:', hidden])


# --- the page ----------------------------------------------------------------
HEAD = """# Benchmarks

Generated by `python bench/docs.py` from `bench/results/*.json`; do not
edit by hand. Each benchmark script in `bench/` takes `--json FILE` and
writes its figures there with how they were made: the command, the date
(UTC), the commit and any uncommitted changes, and the machine. The
commands are shown as they ran, without the machine's own paths:
`$D2L_RECSYS_DATA` is the MovieLens 100K folder (set that variable, or give
`--data-dir` your own folder), other paths are relative to the repository
(the output folders in `runs/`). Figures marked "not re-run" are those the
README of the commit named published; their exact command line and the
state of the tree were not recorded.

All figures come from CPUs shared with other jobs (the load average when a
benchmark started is given), so times are pessimistic and vary from run to
run; ratios measured in one run are the steadier figures."""


def load(folder=RESULTS):
    """``{file name: result}`` of every JSON file in ``folder``."""
    found = {}
    for path in sorted(glob.glob(os.path.join(folder, '*.json'))):
        with open(path) as f:
            found[os.path.basename(path)] = json.load(f)
    return found


def machine_text(m):
    """The machine of a result, in words."""
    if m.get('cpu') is None:
        return f"a {m['cores']}-core CPU (model and memory not recorded)"
    gpus = f"{m['gpus']} GPU(s)" if m['gpus'] else 'no GPU'
    return (f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB, {gpus}, "
            f"MXNet {m['mxnet']}, Python {m['python']}; load average "
            f"{m['load_at_start']} when it started")


def provenance_text(r):
    """How one result file was made, as Markdown."""
    commit = r['commit'][:7]
    if not r['rerun']:
        return (f"Published on {r['date']} with commit `{commit}` and not "
                f"re-run since; {machine_text(r['machine'])}. The command "
                f"as published:\n\n```bash\n{r['command']}\n```")
    tree = (' with uncommitted changes to ' +
            ', '.join(f'`{p}`' for p in r['dirty'])
            if r['dirty'] else ' (no uncommitted changes)')
    return (f"Measured on {r['date']} at commit `{commit}`{tree}; "
            f"{machine_text(r['machine'])}. The command:\n\n```bash\n"
            f"{r['command']}\n```")


def table(header, rows):
    """A Markdown table."""
    lines = ['| ' + ' | '.join(header) + ' |', '| --- ' * len(header) + '|']
    return '\n'.join(lines + ['| ' + ' | '.join(row) + ' |' for row in rows])


def section(title, text, header, to_rows, results, order=None):
    """One claim: what it measures, its table and how each part was made.
    With several result files, a ``run`` column names each row's file;
    ``order`` (of a measurement) sorts their rows."""
    rows, how = [], []
    for k, (name, r) in enumerate(results):
        mark = chr(ord('a') + k)
        for m in r['measurements']:
            for row in to_rows(m):
                key = order(m) if order else len(rows)
                rows.append((key, row + [mark] if len(results) > 1 else row))
        label = f'({mark}) ' if len(results) > 1 else ''
        how.append(f'{label}`bench/results/{name}`. {provenance_text(r)}')
    rows.sort(key=lambda pair: pair[0])
    header = header + ['run'] if len(results) > 1 else header
    return '\n\n'.join([f'## {title}', text,
                        table(header, [row for _, row in rows]), *how])


def render(results):
    """The page for ``{file name: result}``.

    Raises:
        ValueError: a result file that no section shows.
    """
    used, parts = set(SUPERSEDED), [HEAD]
    for pattern, title, text, header, to_rows, *order in SECTIONS:
        mine = [(n, r) for n, r in results.items()
                if fnmatch.fnmatch(n, pattern) and n not in SUPERSEDED]
        if mine:
            used.update(n for n, _ in mine)
            parts.append(section(title, text, header, to_rows, mine,
                                 *order))
    parts.append(once_section())
    unused = sorted(set(results) - used)
    if unused:
        raise ValueError(f"no section of bench/docs.py shows "
                         f"{', '.join(unused)}: add one, or remove the files")
    return '\n\n'.join(parts) + '\n'


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--check', action='store_true',
                   help='compare the page with its data, write nothing')
    args = p.parse_args()
    page = render(load())
    if args.check:
        with open(PAGE) as f:
            same = f.read() == page
        print('docs/benchmarks.md matches bench/results/' if same else
              'docs/benchmarks.md differs from bench/results/: run '
              'python bench/docs.py')
        return 0 if same else 1
    sys.path.insert(0, ROOT)
    from d2l_recsys.files import write_text
    write_text(PAGE, page)
    print(f'wrote {os.path.relpath(PAGE, ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
