#!/usr/bin/env python
"""Render docs/benchmarks.md from the benchmark results the repository
keeps (bench/results/*.json, written by the scripts' ``--json FILE``).

One section per published claim; every figure appears once, next to the
command, date, commit and machine that made it.  The page's words are
``bench/sections.md``'s: its head, and under each section's title what
the section measures; this module adds each section's table and how each
result file was made, and the figures measured once.

    python bench/docs.py            # writes docs/benchmarks.md
    python bench/docs.py --check    # exit 1 if the page is not its data's
"""
import argparse
import fnmatch
import glob
import json
import os
import re
import sys

from harness import ROOT

RESULTS = os.path.join(ROOT, 'bench', 'results')
PAGE = os.path.join(ROOT, 'docs', 'benchmarks.md')
TEXT = os.path.join(ROOT, 'bench', 'sections.md')


def secs(x):
    """Seconds, to three significant figures or tenths."""
    return f'{x:.3f}' if x < 1 else f'{x:.2f}' if x < 10 else f'{x:.1f}'


def times(x):
    """A ratio, as ``68×``, ``6.7×`` or ``0.85×``."""
    return f'{x:.0f}×' if x >= 10 else f'{x:.1f}×' if x >= 1 else f'{x:.2f}×'


def num(x):
    """A count with thousands separators."""
    return f'{x:,}'


def data_rows(m):
    if m.get('part', 'data') != 'data':
        return []
    return [[secs(m['d2l_seconds']),
             f"{secs(m['ours_seconds'])} (best of {m['repeats']})",
             times(m['speedup'])]]


def end_to_end_rows(m):
    if m.get('part', 'whole-run') != 'whole-run':
        return []
    return [[m['model'], secs(m['book_data_seconds']),
             secs(m['book_train_seconds']), f"{m['book_rmse']:.4f}",
             secs(m['ours_data_seconds']), secs(m['ours_train_seconds']),
             f"{m['ours_rmse']:.4f}", times(m['speedup'])]]


def eval_ml100k_rows(m):
    if m['part'] != 'ml100k':
        return []
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


def kb(b):
    return '—' if b is None else f'{b / 1e3:,.1f} kB'


def dist_run(m):
    """What a parameter-server row ran, in words."""
    if m['run'].startswith('SparseEmbedding'):
        return f"SparseEmbedding MF (bench-only), dist_sync {m['workers']}w"
    if not m['workers']:
        return 'local (kvstore device)'
    return f"dist_sync {m['workers']}w" + \
        (', --sparse-grad' if m['gradients'] == 'row-sparse' else '')


def dist_rows(m):
    """A run: its speed, its test figure and the bytes moved a step."""
    head = [m['model'], dist_run(m), str(m['batch_per_worker'])]
    would = m.get('would_pull_bytes')
    if not m['status'].startswith('ok'):
        why = m.get('reason') or f"failed (exit {m['exit_code']}): " \
            + m['error'].replace('`', "'").replace('|', '/')
        moved = f'{kb(would)} (would)' if would else '—'
        return [head + [why, '—', '—', '—', '—', moved, moved]]
    flag = ' (†)' if m['status'] != 'ok' else ''
    out = [' + '.join(f'{x:,.0f}' for x in m['examples_per_second']) + flag,
           f"{m['examples_per_second_total']:,.0f}",
           f"{m['steps_examples_per_second']:,.0f}",
           f"{m['wall_seconds']:.0f}", f"{m['metric_name']} {m['metric']:.4f}"]
    if not m['workers']:
        return [head + out + ['0 (no kvstore)'] * 2]
    pulled = kb(m['bytes_pulled_per_step'])
    if 'rows_pulled_per_step' in m:
        got = m['rows_pulled_per_step']
        pulled += (f" measured ({got['P']:.0f} user + {got['Q']:.0f} item "
                   f"rows); computed {kb(would)}")
    return [head + out + [pulled, kb(m['bytes_pushed_per_step'])]]


def serve_rows(m):
    if m['part'] != 'serve':
        return []
    what = {'in-process': 'in-process `recommend()`',
            'http': f"HTTP, {m['workers']} worker(s)",
            'soak': f"soak of {m.get('seconds', 0):.0f} s, 2 workers"}
    return [[what[m['run']], str(m['clients']), f"{m['rps']:.0f}",
             f"{m['p50']:.2f}", f"{m['p99']:.2f}", num(m['n']),
             str(m['failures']), f"{m['server_cpu']:.2f}"
             if 'server_cpu' in m else '—', f"{m['client_cpu']:.2f}"]]


def all_users_rows(m):
    if m['part'] != 'all-users':
        return []
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
    """Rows by shape (by size), task, then each peer before ours."""
    return (['ml-100k', 'ml-1m', 'ml-10m', 'ml-20m'].index(m['shape']),
            ['mf', 'autorec'].index(m['task']), m['side'] == 'ours',
            m['contestant'])


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
             secs(m['book_data_seconds']), secs(m['book_epoch_seconds']),
             f"{m['book_auc']:.4f}",
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


# One section per claim: (files, title, rows of one measurement[, sort
# key of a measurement]); its words and its table's header are under the
# same title in sections.md.
SECTIONS = [
    ('data.json', 'Reading MovieLens 100K', data_rows),
    ('end-to-end.json', 'AutoRec and MF, whole runs', end_to_end_rows),
    ('eval-ml100k.json', 'Ranking evaluation on MovieLens 100K',
     eval_ml100k_rows),
    ('eval-ml20m.json', "Full ranking at ML-20M's shape", eval_ml20m_rows),
    ('sparse-grad.json', 'Dense and row-sparse embedding gradients',
     sparse_grad_rows),
    ('autorec-step.json', "AutoRec's training step", autorec_step_rows),
    ('scale-*.json', 'How cost grows with the data', scale_rows,
     lambda m: (m['num_ratings'], SCALE_MODELS.index(m['model']))),
    ('dist.json', "MXNet's parameter server on one machine", dist_rows),
    ('serve.json', 'Serving top-10 requests', serve_rows),
    ('all-users-*.json', "Top-10 for every user at ML-20M's shape",
     all_users_rows),
    ('ranking.json', "The book's NeuMF section, whole", ranking_rows),
    ('caser.json', "Caser with the book's settings", caser_rows),
    ('floor*.json', 'Each training epoch beside its floor', floor_rows),
    ('bounds.json', "How far MXNet's own operators can go", bounds_rows),
    ('bounds.json', "AutoRec's decoder, whole or chunk by chunk",
     decoder_rows),
    ('peers.json', 'Against the peers a practitioner would use', peers_rows,
     peers_order),
    ('ctr*.json', "FM and DeepFM: where a training step's time goes",
     ctr_steps_rows),
    ('ctr*.json', "FM and DeepFM against the book's code", ctr_book_rows),
    ('ctr*.json', "FM against a PyTorch FM, and at ML-1M's shape",
     ctr_peers_rows),
]


# The last section: figures that rules of the code were drawn from and no
# result file holds (a table in sections.md); then the result files kept
# but not shown, and why: a later run measured the same figures.
ONCE_TITLE = 'Figures measured once, without a result file'
SUPERSEDED = {
    'autorec-update.json': (
        "AutoRec's steps at ML-10M's and ML-20M's widths, measured at "
        '`2a599ca` before the decoder could decode a batch whole; the Adam '
        'update it times is measured again with each epoch\'s floor '
        '(`floor-ml10m.json`, `floor.json`, `bounds.json`)'),
}


def words(path=TEXT):
    """``(head, {title: (text, header)})`` of ``sections.md``: the page's
    head, and each section's words and its table's header (their last
    line, when it alone is a table's), under its ``##`` title."""
    with open(path) as f:
        page = re.sub(r'^<!--.*?-->\s*', '', f.read(), flags=re.S)
    head, *parts = re.split(r'^## ', page, flags=re.M)
    texts = {}
    for part in parts:
        title, _, text = part.strip().partition('\n')
        lines = text.strip().split('\n')
        header = None
        if lines[-1].startswith('|') and not lines[-2].startswith('|'):
            header = [c.strip() for c in lines.pop().strip('|').split('|')]
        texts[title.strip()] = '\n'.join(lines).strip(), header
    return head.strip(), texts


def load(folder=RESULTS):
    """``{file name: result}`` of every JSON file in ``folder``."""
    paths = sorted(glob.glob(os.path.join(folder, '*.json')))
    return {os.path.basename(p): json.load(open(p)) for p in paths}


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
    head, texts = words()
    used, parts = set(SUPERSEDED), [head]
    for pattern, title, to_rows, *order in SECTIONS:
        mine = [(n, r) for n, r in results.items()
                if fnmatch.fnmatch(n, pattern) and n not in SUPERSEDED]
        if mine:
            used.update(n for n, _ in mine)
            parts.append(section(title, *texts[title], to_rows, mine,
                                 *order))
    parts += [f'## {ONCE_TITLE}', texts[ONCE_TITLE][0], '\n'.join(
        f'- `bench/results/{name}`: {why}.'
        for name, why in sorted(SUPERSEDED.items()))]
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
    from d2l_recsys.files import write_text
    write_text(PAGE, page)
    print(f'wrote {os.path.relpath(PAGE, ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
