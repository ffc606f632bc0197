"""Natural-language generation metrics: thin wrappers over pycocoevalcap (BLEU-1..4, ROUGE-L, CIDEr,
METEOR). Everything runs offline.

Text is tokenised here, not by pycocoevalcap's PTB tokenizer (that one starts a JVM per call):
lower-case, every non-alphanumeric character becomes a space, split on whitespace. This is the
normalisation R2Gen-style report-generation code uses, so scores compare with that literature.

BLEU and CIDEr are *corpus* scores (pycocoevalcap's definitions); ROUGE-L is the mean of per-sample
F-scores (β = 1.2, pycocoevalcap's choice). An empty hypothesis scores 0 on every metric.

METEOR needs ``java``: :class:`Meteor` starts the METEOR 1.5 jar once and keeps it for the whole
evaluation (a JVM start costs ~10-20 s); :func:`start_meteor` returns ``None`` plus a reason when java is
missing or the jar fails, and callers report METEOR as unavailable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def tokenize(text: str) -> str:
    """Lower-case, punctuation-free, single-spaced text (tokens joined by one space)."""
    return " ".join(_NON_ALNUM.sub(" ", text.lower()).split())


def _check(hyps: Sequence[str], refs: Sequence[str]) -> None:
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")


def bleu(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU-1..4 (``bleu_1`` ... ``bleu_4``) of ``hyps`` against one reference each."""
    from pycocoevalcap.bleu.bleu import Bleu

    _check(hyps, refs)
    if not hyps:
        return {f"bleu_{n}": float("nan") for n in range(1, 5)}
    gts = {i: [tokenize(r)] for i, r in enumerate(refs)}
    res = {i: [tokenize(h)] for i, h in enumerate(hyps)}
    scores, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return {f"bleu_{n + 1}": float(s) for n, s in enumerate(scores)}


def rouge_l_sample(hyp: str, ref: str, beta: float = 1.2) -> float:
    """ROUGE-L F-score of one pair (LCS-based; pycocoevalcap's β = 1.2)."""
    h, r = tokenize(hyp).split(), tokenize(ref).split()
    if not h or not r:
        return 0.0
    from pycocoevalcap.rouge.rouge import my_lcs

    lcs = my_lcs(r, h)
    if lcs == 0:
        return 0.0
    prec, rec = lcs / len(h), lcs / len(r)
    return ((1 + beta**2) * prec * rec) / (rec + beta**2 * prec)


def rouge_l(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Mean per-sample ROUGE-L F-score."""
    _check(hyps, refs)
    if not hyps:
        return float("nan")
    return sum(rouge_l_sample(h, r) for h, r in zip(hyps, refs, strict=True)) / len(hyps)


def cider(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus CIDEr-D as pycocoevalcap computes it (IDF from the references of this corpus)."""
    from pycocoevalcap.cider.cider import Cider

    _check(hyps, refs)
    if not hyps:
        return float("nan")
    gts = {i: [tokenize(r)] for i, r in enumerate(refs)}
    res = {i: [tokenize(h)] for i, h in enumerate(hyps)}
    score, _ = Cider().compute_score(gts, res)
    return float(score)


class Meteor:
    """A running METEOR 1.5 process (``java -jar meteor-1.5.jar - - -stdio -l en -norm``).

    Use as a context manager, or call :meth:`close`. One instance serves a whole evaluation.
    """

    def __init__(self, java: str = "java") -> None:
        import pycocoevalcap.meteor.meteor as mod

        jar_dir = Path(mod.__file__).parent
        cmd = [java, "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"]
        self._proc = subprocess.Popen(
            cmd, cwd=jar_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self._lock = threading.Lock()

    def _readline(self) -> str:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError("METEOR process ended unexpectedly")
        return line

    def _write(self, line: str) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write((line + "\n").encode())
        self._proc.stdin.flush()

    def score(self, hyps: Sequence[str], refs: Sequence[str]) -> float:
        """Corpus METEOR of ``hyps`` against one reference each (tokenised like the other metrics)."""
        _check(hyps, refs)
        if not hyps:
            return float("nan")
        with self._lock:
            stats = []
            for h, r in zip(hyps, refs, strict=True):
                # "|||" separates fields in METEOR's protocol and newlines end a request: tokenize()
                # removes both.
                self._write(f"SCORE ||| {tokenize(r)} ||| {tokenize(h)}")
                stats.append(self._readline())
            self._write("EVAL ||| " + " ||| ".join(stats))
            for _ in stats:
                self._readline()  # per-segment scores
            return float(self._readline())

    def close(self) -> None:
        if self._proc.poll() is None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> Meteor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_meteor(java: str = "java") -> tuple[Meteor | None, str]:
    """Start METEOR once; ``(server, "")`` or ``(None, reason)`` when it cannot run here."""
    if shutil.which(java) is None:
        return None, f"'{java}' not found on PATH (METEOR 1.5 is a Java program)"
    try:
        server = Meteor(java)
        # A one-pair probe: a broken JVM or jar fails here, once, instead of mid-evaluation.
        server.score(["a test"], ["a test"])
    except (OSError, RuntimeError, ValueError) as exc:
        return None, f"METEOR failed to start: {exc}"
    return server, ""
