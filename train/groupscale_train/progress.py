"""A small progress bar on stderr (no tqdm needed).

On a terminal it redraws one line in place, at most ten times a second, and
clears it when done. Elsewhere (a log file) it stays silent unless forced,
so logs hold only the JSON lines the trainers print on stdout; forced, it
writes one plain line per bar when the bar closes.
"""

import sys
import time


def _clock(seconds):
    seconds = int(seconds)
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """`with Progress(total, "stage 2 epoch 1/4") as bar: ... bar.update(n, loss=...)`"""

    def __init__(self, total, label="", enabled=None, stream=None, width=28, interval=0.1):
        self.total, self.label, self.width, self.interval = max(int(total), 0), label, width, interval
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())
        self.enabled = self.live if enabled is None else bool(enabled)
        self.done = 0
        self.start = time.monotonic()
        self.last = 0.0
        self.extra = ""
        self.closed = False

    def __enter__(self):
        self._draw(force=True)
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def update(self, n=1, **values):
        self.done = min(self.done + n, self.total) if self.total else self.done + n
        if values:
            self.extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in values.items())
        self._draw(force=self.done >= self.total)

    def line(self):
        elapsed = time.monotonic() - self.start
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        text = f"{self.label} [{bar}] {self.done}/{self.total} {100 * frac:3.0f}% " \
               f"{_clock(elapsed)}<{_clock(eta)}"
        return text + (f" {self.extra}" if self.extra else "")

    def _draw(self, force=False):
        if not (self.enabled and self.live):
            return
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        self.stream.write("\r" + self.line() + "\x1b[K")
        self.stream.flush()

    def close(self):
        if self.closed or not self.enabled:
            self.closed = True
            return
        self.closed = True
        if not self.live:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            return
        self._draw(force=True)
        # On a terminal the finished bar is cleared: the trainer's JSON line
        # for the epoch follows on stdout.
        self.stream.write("\r\x1b[K")
        self.stream.flush()
