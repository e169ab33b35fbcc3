"""What the peer programs share: progress to stderr, the result as the line
the bench reads, and (for the PyTorch ones) the training loop.

Standard library only at import, since each peer runs in a virtual
environment of its own without ``d2l_recsys`` or the bench's harness; a
peer's folder is on its ``sys.path``, so ``import common`` finds this.
"""
import json
import os
import sys
import tempfile
import time

# The line of stdout the bench reads (``bench/harness.py``'s ``MARK``).
MARK = 'BENCH-RESULT '


def log(text):
    """A progress line on stderr."""
    print(text, file=sys.stderr, flush=True)


def emit(result, path=None):
    """``result`` as JSON: on stdout as the line the bench reads, and to
    ``path`` atomically (a temporary file and a rename) when given."""
    print(MARK + json.dumps(result), flush=True)
    if path:
        fd, tmp = tempfile.mkstemp(
            dir=os.path.dirname(os.path.abspath(path)), prefix='.tmp-')
        with os.fdopen(fd, 'w') as f:
            json.dump(result, f, indent=2)
        os.replace(tmp, path)


def fit(model, optimizer, num_rows, batch_size, epochs, batch_loss,
        evaluate):
    """Train ``model`` (PyTorch) ``epochs`` epochs over ``num_rows`` rows,
    a new shuffle every epoch (the last batch of an epoch is smaller),
    evaluating after every epoch.

    Args:
        batch_loss: rows -> ``(the loss to step on, the batch's summed
            loss)``.
        evaluate: () -> ``{figure: value}``, run under ``no_grad`` and
            ``eval()``.

    Returns:
        The history: per epoch its number, mean training loss, figures,
        ``seconds`` (its training and evaluation) and ``elapsed`` (since
        training began).
    """
    import torch
    history, begin = [], time.perf_counter()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        order, total = torch.randperm(num_rows), 0.0
        for i in range(0, num_rows, batch_size):
            loss, summed = batch_loss(order[i:i + batch_size])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += summed
        model.eval()
        with torch.no_grad():
            figures = evaluate()
        now = time.perf_counter()
        history.append(dict(epoch=epoch, train_loss=total / num_rows,
                            **figures, seconds=now - start,
                            elapsed=now - begin))
        log(f'epoch {epoch:3d}/{epochs}  train loss {total / num_rows:.4f}'
            + ''.join(f'  {k} {v:.4f}' for k, v in figures.items())
            + f'  ({now - start:.2f} s)')
    return history
