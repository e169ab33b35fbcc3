"""Progress of long batch jobs, on stderr.

A terminal gets a tqdm bar (rate and ETA); a pipe or a log file gets a
plain line every ``every`` seconds (a bar's carriage returns would make a
mess of it); ``quiet`` prints nothing.  Without tqdm installed, terminals get
the lines too.
"""
import sys
import time


def _clock(seconds):
    seconds = int(round(seconds))
    return f'{seconds // 60}:{seconds % 60:02d}'


class Progress:
    """Count work done towards a total; use as a context manager.

    Args:
        total: the amount of work (e.g. users to score).
        unit: what is counted, for the display.
        desc: a label.
        quiet: print nothing.
        stream: where to write (default ``sys.stderr``).
        every: seconds between plain lines.

    Example::

        with Progress(len(users), 'users', 'top-10') as progress:
            for chunk in chunks:
                ...
                progress.update(len(chunk))
    """

    def __init__(self, total, unit='items', desc='progress', quiet=False,
                 stream=None, every=10.0):
        self.total, self.unit, self.desc = total, unit, desc
        self.stream = stream or sys.stderr
        self.every, self.done = every, 0
        self.start = self.last = time.monotonic()
        self.quiet, self._bar = quiet, None
        if not quiet and getattr(self.stream, 'isatty', lambda: False)():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, unit=unit, desc=desc,
                                 file=self.stream, dynamic_ncols=True)

    def _line(self, now):
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        pct = 100 * self.done / self.total if self.total else 100
        eta = (self.total - self.done) / rate if rate > 0 else 0
        print(f'{self.desc}: {self.done}/{self.total} {self.unit} '
              f'({pct:.0f}%), {rate:,.0f} {self.unit}/s, elapsed '
              f'{_clock(elapsed)}, ETA {_clock(eta)}', file=self.stream,
              flush=True)

    def update(self, n):
        """Record ``n`` more units done."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if not self.quiet and now - self.last >= self.every:
            self.last = now
            self._line(now)

    def close(self):
        """Finish the bar, or print the closing line."""
        if self._bar is not None:
            self._bar.close()
        elif not self.quiet:
            self._line(time.monotonic())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
