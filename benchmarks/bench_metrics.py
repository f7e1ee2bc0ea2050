"""Time lookalike's full-reference metrics against the libraries people use today.

Run with the project's environment (``make -C benchmarks metrics`` builds the anchor
environments first)::

    .venv/bin/python benchmarks/bench_metrics.py [--rounds 7] [--only ssim,fsimc]

Method (see ``benchmarks/README.md``):

* Inputs: fixed-seed 1024x1024 pairs made from scikit-image's bundled CC0 images
  (``camera`` for grey, ``astronaut`` for RGB), upscaled with PIL bicubic, distorted with
  Gaussian noise (sigma 6, seeded) then JPEG quality 35. They are saved as ``.npy`` in a
  temporary folder so that every side reads the very same bytes.
* Sides: lookalike through its public API and scikit-image run in this process; anchors
  with conflicting pins (torch: piq, pytorch-msssim; numpy<2: image-similarity-measures) run
  in a long-lived worker per virtual environment (``_anchor_worker.py``) that times the call
  itself, so the pipe is never timed. Anchor inputs are converted (numpy -> float32 tensor)
  once, outside the timing: that favours the anchor.
* Each side is warmed up (one call, also used to size the rounds), then the sides of a case
  run in alternating rounds (the order rotates each round) so that load from other processes
  on this shared machine falls on all of them alike. Fast calls are repeated within a round;
  the figure reported is the median of all timed calls.
* Values of both sides are printed so that equality (or the lack of it) is visible.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "_anchor_worker.py"
SIZE = 1024


# --------------------------------------------------------------------------- inputs


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert(Image.fromarray(image).mode))


def make_pairs(seed: int, folder: Path) -> dict[str, tuple[Path, Path]]:
    """Write the grey and RGB test pairs as .npy files; return their paths by name."""
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(seed)
    sources = {"grey": data.camera(), "rgb": data.astronaut()}
    pairs = {}
    for name, source in sources.items():
        reference = np.asarray(
            Image.fromarray(source).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
        )
        noisy = reference.astype(np.float64) + rng.normal(0.0, 6.0, reference.shape)
        distorted = _jpeg(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), quality=35)
        paths = (folder / f"{name}_reference.npy", folder / f"{name}_distorted.npy")
        np.save(paths[0], reference)
        np.save(paths[1], distorted)
        pairs[name] = paths
    return pairs


# --------------------------------------------------------------------------- sides


class Unavailable(Exception):
    """A side that cannot run here; the message says why."""


class Worker:
    """A long-lived ``_anchor_worker.py`` in another virtual environment."""

    def __init__(self, name: str, python: Path, install_hint: str) -> None:
        self.name = name
        self.python = python
        self.install_hint = install_hint
        self.process: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.error: str | None = None

    def start(self) -> None:
        if not self.python.exists():
            self.error = f"{self.python} missing ({self.install_hint})"
            return
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        self.process = subprocess.Popen(
            [str(self.python), str(WORKER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=env, cwd=str(HERE),
        )
        reply = self.request({"op": "info"})
        if not reply.get("ok"):
            self.error = reply.get("error", "worker failed to start")
        self.info = reply

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.process is None or self.process.stdin is None or self.process.stdout is None:
            return {"ok": False, "error": self.error or "worker not running"}
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            return {"ok": False, "error": f"{self.name} worker exited (code {self.process.poll()})"}
        return json.loads(line)

    def stop(self) -> None:
        if self.process is not None:
            try:
                self.request({"op": "quit"})
            except (BrokenPipeError, OSError):
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@dataclass
class Side:
    """Something to time: ``run(reps, warmup) -> (seconds per call, value)``."""

    label: str
    run: Callable[[int, int], tuple[list[float], float]]
    times: list[float] = field(default_factory=list)
    value: float = float("nan")
    error: str | None = None
    worker: Worker | None = None

    @property
    def median_ms(self) -> float:
        return 1e3 * statistics.median(self.times) if self.times else float("nan")

    @property
    def min_ms(self) -> float:
        return 1e3 * min(self.times) if self.times else float("nan")


def in_process(label: str, factory: Callable[[], Callable[[], float]]) -> Side:
    """A side timed here; ``factory`` imports and prepares, and may raise Unavailable."""
    state: dict[str, Callable[[], float]] = {}

    def run(reps: int, warmup: int) -> tuple[list[float], float]:
        if "call" not in state:
            state["call"] = factory()
        call = state["call"]
        value = float("nan")
        for _ in range(warmup):
            value = call()
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            value = call()
            times.append(time.perf_counter() - start)
        return times, value

    return Side(label, run)


def in_worker(
    label: str, worker: Worker, metric: str, pair: tuple[Path, Path], threads: int | None = None
) -> Side:
    def run(reps: int, warmup: int) -> tuple[list[float], float]:
        if worker.error:
            raise Unavailable(worker.error)
        if metric in worker.info.get("unavailable", {}):
            raise Unavailable(worker.info["unavailable"][metric])
        reply = worker.request(
            {"op": "time", "metric": metric, "a": str(pair[0]), "b": str(pair[1]),
             "reps": reps, "warmup": warmup, "threads": threads}
        )
        if not reply.get("ok"):
            raise Unavailable(reply.get("error", "worker error"))
        return reply["times"], reply["value"]

    return Side(label, run, worker=worker)


def lookalike_side(label: str, name: str, pair: tuple[Path, Path], **kwargs: Any) -> Side:
    def factory() -> Callable[[], float]:
        import lookalike.metrics as metrics

        func = getattr(metrics, name)
        a, b = np.load(pair[0]), np.load(pair[1])
        try:
            func(a, b, **kwargs)
        except NotImplementedError as exc:
            raise Unavailable("not implemented yet") from exc
        return lambda: float(func(a, b, **kwargs))

    return in_process(label, factory)


def skimage_side(label: str, name: str, pair: tuple[Path, Path], **kwargs: Any) -> Side:
    def factory() -> Callable[[], float]:
        import skimage.metrics

        func = getattr(skimage.metrics, name)
        a, b = np.load(pair[0]), np.load(pair[1])
        return lambda: float(func(a, b, **kwargs))

    return in_process(label, factory)


# --------------------------------------------------------------------------- cases


@dataclass
class Anchor:
    side: Side
    target: float | None  # required speed-up, None for context rows
    value_tol: float | None  # required |difference|, None when another algorithm
    note: str = ""
    alt: Side | None = None  # the same call with another torch thread count

    def variants(self) -> list[Side]:
        return [self.side] + ([self.alt] if self.alt is not None else [])

    def best(self) -> Side:
        """The fastest variant that ran (the anchor's best case), else the main one."""
        ran = [side for side in self.variants() if side.times]
        return min(ran, key=lambda side: side.median_ms) if ran else self.side


def torch_anchor(
    label: str, worker: Worker, metric: str, pair: tuple[Path, Path], **kwargs: Any
) -> Anchor:
    """A torch anchor timed with torch's default thread count and with one thread.

    On a loaded machine torch's OpenMP threads can wait on each other for a long time
    (two threads on two busy cores ran piq's FSIM 10x slower than one thread), so both are
    timed and the faster one is compared: the anchor's best case.
    """
    return Anchor(
        in_worker(f"{label} [torch threads: default]", worker, metric, pair),
        alt=in_worker(f"{label} [torch threads: 1]", worker, metric, pair, threads=1),
        **kwargs,
    )


@dataclass
class Case:
    key: str
    title: str
    input: str
    lookalike: Side
    anchors: list[Anchor]


def build_cases(pairs: dict[str, tuple[Path, Path]], torch_w: Worker, ism_w: Worker) -> list[Case]:
    grey, rgb = pairs["grey"], pairs["rgb"]
    return [
        Case(
            "ssim", "SSIM (wang)", "1024x1024 grey",
            lookalike_side("lookalike ssim(convention='wang')", "ssim", grey, convention="wang"),
            [
                Anchor(
                    skimage_side(
                        "skimage structural_similarity (gaussian, sigma 1.5, population)",
                        "structural_similarity", grey, gaussian_weights=True, sigma=1.5,
                        use_sample_covariance=False, data_range=255,
                    ),
                    target=10.0, value_tol=1e-6,
                ),
                torch_anchor(
                    "piq ssim(downsample=False)", torch_w, "piq.ssim", grey,
                    target=None, value_tol=None,
                    note="context; piq computes in float32",
                ),
            ],
        ),
        Case(
            "fsimc", "FSIMc", "1024x1024 RGB",
            lookalike_side("lookalike fsimc", "fsimc", rgb),
            [
                torch_anchor(
                    "piq fsim(chromatic=True)", torch_w, "piq.fsim_chromatic", rgb,
                    target=3.0, value_tol=None,
                    note="piq is float32 and its own port of FeatureSIM.m",
                ),
                Anchor(
                    in_worker("image-similarity-measures fsim", ism_w,
                              "image_similarity_measures.fsim", rgb),
                    target=50.0, value_tol=None,
                    note="another algorithm (phasepack phasecong, per-band FSIM, no "
                         "chroma, no downsampling): values are not comparable",
                ),
            ],
        ),
        Case(
            "ms_ssim", "MS-SSIM", "1024x1024 grey",
            lookalike_side("lookalike ms_ssim", "ms_ssim", grey),
            [
                torch_anchor(
                    "piq multi_scale_ssim", torch_w, "piq.multi_scale_ssim", grey,
                    target=5.0, value_tol=None, note="float32",
                ),
                torch_anchor(
                    "pytorch-msssim ms_ssim", torch_w, "pytorch_msssim.ms_ssim", grey,
                    target=5.0, value_tol=None, note="float32",
                ),
            ],
        ),
        Case(
            "fsim", "FSIM (grey)", "1024x1024 grey",
            lookalike_side("lookalike fsim", "fsim", grey),
            [
                torch_anchor(
                    "piq fsim(chromatic=False)", torch_w, "piq.fsim", grey,
                    target=None, value_tol=None, note="context; float32",
                ),
            ],
        ),
        Case(
            "gmsd", "GMSD", "1024x1024 grey",
            lookalike_side("lookalike gmsd", "gmsd", grey),
            [
                torch_anchor(
                    "piq gmsd", torch_w, "piq.gmsd", grey,
                    target=None, value_tol=None, note="context; float32",
                ),
            ],
        ),
        Case(
            "psnr", "PSNR", "1024x1024 RGB",
            lookalike_side("lookalike psnr", "psnr", rgb),
            [
                Anchor(
                    skimage_side("skimage peak_signal_noise_ratio", "peak_signal_noise_ratio",
                                 rgb, data_range=255),
                    target=None, value_tol=1e-9, note="context",
                ),
            ],
        ),
        Case(
            "mse", "MSE", "1024x1024 RGB",
            lookalike_side("lookalike mse", "mse", rgb),
            [
                Anchor(
                    skimage_side("skimage mean_squared_error", "mean_squared_error", rgb),
                    target=None, value_tol=1e-9, note="context",
                ),
            ],
        ),
    ]


# --------------------------------------------------------------------------- timing


def _short(label: str) -> str:
    name = label.split(" ")[0]
    return name + (" (1 thread)" if label.endswith("[torch threads: 1]") else "")


def time_case(case: Case, args: argparse.Namespace, log: Callable[[str], None]) -> None:
    sides = [case.lookalike] + [side for anchor in case.anchors for side in anchor.variants()]
    estimates: dict[str, float] = {}
    for side in sides:
        try:
            # Warm-up calls (untimed), then one timed call that sizes the rounds.
            times, side.value = side.run(1, args.warmup)
            estimates[side.label] = times[0]
        except Unavailable as exc:
            side.error = str(exc)
        except Exception as exc:  # report, keep benchmarking the other sides
            side.error = f"{type(exc).__name__}: {exc}"
    live = [side for side in sides if side.error is None]
    if not live:
        return
    reps = {
        side.label: max(1, min(args.max_reps, round(args.round_seconds / estimates[side.label])))
        for side in live
    }
    per_round = sum(reps[s.label] * estimates[s.label] for s in live)
    rounds = max(args.min_rounds, min(args.rounds, int(args.budget // max(per_round, 1e-9))))
    log(f"  {case.title}: {rounds} rounds; reps per round "
        + ", ".join(f"{_short(s.label)} {reps[s.label]}" for s in live))
    for r in range(rounds):
        order = live[r % len(live):] + live[: r % len(live)]
        for side in order:
            times, side.value = side.run(reps[side.label], 0)
            side.times.extend(times)


# --------------------------------------------------------------------------- report


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        return rev + (" (src/ has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_lines(workers: list[Worker], load_before: tuple[float, ...]) -> list[str]:
    import cv2
    import scipy
    import skimage

    coretype = os.environ.get("OPENBLAS_CORETYPE")
    lines = [
        f"- platform: {platform.platform()}, Python {platform.python_version()}",
        f"- CPU: {_cpu_model()}, {os.cpu_count()} logical cores "
        f"({len(os.sched_getaffinity(0))} usable by this process)",
        f"- load average before / after: {' '.join(f'{x:.2f}' for x in load_before)} / "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (the machine is shared)",
        f"- OPENBLAS_CORETYPE: {'set to ' + coretype if coretype else 'not set'}; "
        f"OPENBLAS_L2_SIZE: {os.environ.get('OPENBLAS_L2_SIZE', 'not set')}",
        f"- project venv: lookalike {_version('lookalike')} at {_git_revision()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}, opencv {cv2.__version__} "
        f"({cv2.getNumThreads()} threads), scikit-image {skimage.__version__}",
    ]
    for worker in workers:
        if worker.error:
            lines.append(f"- {worker.name} venv: not available ({worker.error})")
            continue
        versions = ", ".join(f"{k} {v}" for k, v in worker.info.get("versions", {}).items())
        extra = ""
        if "torch_threads" in worker.info:
            extra = (f"; torch threads {worker.info['torch_threads']} (default), "
                     f"CUDA build: {worker.info.get('torch_cuda_build')}, run on CPU")
        lines.append(f"- {worker.name} venv (Python {worker.info.get('python')}): "
                     f"{versions}{extra}")
    return lines


def _fmt_ms(ms: float) -> str:
    if ms != ms:
        return "n/a"
    return f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def table_lines(cases: list[Case]) -> tuple[list[str], list[str]]:
    lines = [
        "| metric | input | anchor | lookalike ms | anchor ms | speed-up | target "
        "| speed-up of minima | lookalike value | anchor value | abs diff | note |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    misses = []
    for case in cases:
        own = case.lookalike
        for anchor in case.anchors:
            side = anchor.best()
            notes = [anchor.note] if anchor.note else []
            if own.error:
                notes.append(f"lookalike not available: {own.error}")
            if side.error:
                notes.append(f"anchor not available: {side.error}")
            for other in anchor.variants():
                if other is not side and other.times:
                    setting = other.label.rsplit("[", 1)[-1].rstrip("]")
                    notes.append(f"{setting}: {_fmt_ms(other.median_ms)} ms")
            ratio = side.median_ms / own.median_ms if own.times and side.times else float("nan")
            ratio_min = side.min_ms / own.min_ms if own.times and side.times else float("nan")
            target = "-" if anchor.target is None else f">= {anchor.target:g}x"
            if anchor.target is not None and ratio == ratio:
                verdict = "met" if ratio >= anchor.target else "MISSED"
                target += f" ({verdict})"
                if ratio < anchor.target:
                    misses.append(f"{case.title} vs {side.label}: {ratio:.2f}x, "
                                  f"target {anchor.target:g}x")
            diff = abs(own.value - side.value)
            diff_text = "n/a" if diff != diff else f"{diff:.2e}"
            if anchor.value_tol is not None and diff == diff:
                ok = diff <= anchor.value_tol
                diff_text += f" ({'<=' if ok else '>'} {anchor.value_tol:g})"
                if not ok:
                    misses.append(f"{case.title} vs {side.label}: values differ by {diff:.2e}, "
                                  f"required {anchor.value_tol:g}")
            lines.append(
                f"| {case.title} | {case.input} | {side.label} | {_fmt_ms(own.median_ms)} "
                f"| {_fmt_ms(side.median_ms)} "
                f"| {'n/a' if ratio != ratio else f'{ratio:.1f}x'} | {target} "
                f"| {'n/a' if ratio_min != ratio_min else f'{ratio_min:.1f}x'} "
                f"| {own.value:.8f} | {side.value:.8f} | {diff_text} | {'; '.join(notes)} |"
            )
    return lines, misses


def sample_lines(cases: list[Case]) -> list[str]:
    lines = ["| side | timed calls | median ms | min ms | max ms |", "|---|---:|---:|---:|---:|"]
    for case in cases:
        for side in [case.lookalike] + [s for a in case.anchors for s in a.variants()]:
            if side.times:
                lines.append(
                    f"| {side.label} ({case.title}) | {len(side.times)} | "
                    f"{_fmt_ms(side.median_ms)} | {_fmt_ms(side.min_ms)} | "
                    f"{_fmt_ms(1e3 * max(side.times))} |"
                )
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument("--min-rounds", type=int, default=3,
                        help="rounds even when a slow anchor exceeds --budget (default 3)")
    parser.add_argument("--budget", type=float, default=40.0,
                        help="seconds per case that bound the rounds (default 40)")
    parser.add_argument("--round-seconds", type=float, default=0.3,
                        help="fast calls repeat within a round up to this long (default 0.3)")
    parser.add_argument("--max-reps", type=int, default=30, help="repeats per round at most")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    parser.add_argument("--seed", type=int, default=2024, help="noise seed (default 2024)")
    parser.add_argument("--only", default="",
                        help="comma-separated cases: ssim,fsimc,ms_ssim,fsim,gmsd,psnr,mse")
    parser.add_argument("--torch-venv", type=Path, default=HERE / ".venv-torch")
    parser.add_argument("--ism-venv", type=Path, default=HERE / ".venv-ism")
    parser.add_argument("--out", default=str(HERE / "results" / "metrics-latest.md"),
                        help="markdown report path ('-' for none)")
    parser.add_argument("--json", default=None, help="also write every timed call as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    torch_w = Worker("torch", args.torch_venv / "bin" / "python",
                     "make -C benchmarks venv-torch")
    ism_w = Worker("image-similarity-measures", args.ism_venv / "bin" / "python",
                   "make -C benchmarks venv-ism")
    workers = [torch_w, ism_w]
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-") as tmp:
        pairs = make_pairs(args.seed, Path(tmp))
        cases = build_cases(pairs, torch_w, ism_w)
        wanted = {c for c in args.only.split(",") if c}
        unknown = wanted - {case.key for case in cases}
        if unknown:
            log(f"unknown case(s) {sorted(unknown)}; known: {[case.key for case in cases]}")
            return 2
        if wanted:
            cases = [case for case in cases if case.key in wanted]
        needed = {s.worker for c in cases for a in c.anchors for s in a.variants() if s.worker}
        workers = [worker for worker in workers if worker in needed]
        try:
            for worker in workers:
                log(f"starting {worker.name} worker ...")
                worker.start()
            log(f"timing {len(cases)} case(s) on {SIZE}x{SIZE} pairs (seed {args.seed})")
            for case in cases:
                time_case(case, args, log)
        finally:
            for worker in workers:
                worker.stop()

    table, misses = table_lines(cases)
    command = "python benchmarks/bench_metrics.py " + " ".join(argv or sys.argv[1:])
    report = [
        f"# Metrics benchmark ({started})",
        "",
        f"Command: `{command.strip()}`. Times are medians of all timed calls over "
        f"alternating rounds after {args.warmup} warm-up call(s); speed-up = anchor median / "
        "lookalike median (targets are judged on it); speed-up of minima = fastest anchor call / "
        "fastest lookalike call, less sensitive to other load on the machine. Inputs: "
        "fixed-seed 1024x1024 pairs from skimage.data camera (grey) and astronaut (RGB), "
        "bicubic upscale, Gaussian noise sigma 6, JPEG q35.",
        "",
        *table,
        "",
        "Targets not met: " + ("none" if not misses else ""),
        *[f"- {miss}" for miss in misses],
        "",
        "## Machine",
        "",
        *machine_lines(workers, load_before),
        "",
        "## Samples",
        "",
        *sample_lines(cases),
        "",
    ]
    text = "\n".join(report)
    print(text)
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        log(f"wrote {out}")
    if args.json:
        raw = {
            case.key: {
                side.label: {"times_s": side.times, "value": side.value, "error": side.error}
                for side in [case.lookalike] + [s for a in case.anchors for s in a.variants()]
            }
            for case in cases
        }
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
