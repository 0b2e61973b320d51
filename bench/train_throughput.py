"""Training-step throughput of GC models on this machine's CPU.

Why: training on 2 CPU cores is the binding constraint of this project, so the time per step
(distortion-only warm-up step and GAN step) decides which architectures are trainable at all.
The step's achieved GFLOP/s, as a fraction of a large float32 matmul measured in the same run,
says whether a slow step is slow because it does a lot of work or because it does it badly.

Run from the repo root:

    .venv/bin/python bench/train_throughput.py                      # tiny + paper C=8, b1 and b8
    .venv/bin/python bench/train_throughput.py --configs tiny --steps 30 --crop 128

Batches are synthetic (uniform noise, no data I/O). Each (config, batch, mode) case wraps
`model.train_step` in its own `tf.function`, traces it, runs warm-up steps, then times up to
`--steps` steps (at least `--min-steps`; fewer than `--steps` once `--case-seconds` or the global
`--time-limit` is spent), and reports the median and interquartile range of the step time.
FLOPs per step are counted on the traced train-step graph (live ops only; convs from their
shapes, other ops with TF profiler's FLOP formulas) and cross-checked against an analytic conv
count from the config and against the raw `tf.compat.v1.profiler` total. Each case is compared
with 2048^2 matmuls timed right before and after it. Writes <out>.json and <out>.md.

Cost: the paper model at batch 8 dominates (trace ~20 s, first step 1.5-2.5 min, then ~45-60 s
per step when this process gets half a core); the default run took ~15 min on a shared 2-core
machine and should take ~8 min when only one other job runs. `--batch-sizes 1` or
`--configs tiny` for a quick look.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework import ops as tf_ops  # noqa: E402

from tfgc.networks.widths import scaled, scaled_all  # noqa: E402
from tfgc.training.trainer import build_model  # noqa: E402

MODES = ("distortion", "gan")
DEFAULT_OUT = os.path.join(REPO, "bench", "results", "train_throughput.json")


def log(message: str) -> None:
    """Progress goes to stderr so stdout stays clean for piping."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Machine and load: the numbers are meaningless without knowing how much CPU we really had.


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def loadavg() -> list[float]:
    """1/5/15-minute load averages; a load above the core count means we shared the CPU."""
    return [float(x) for x in _read("/proc/loadavg").split()[:3]] or list(os.getloadavg())


def machine_info() -> dict[str, Any]:
    cpuinfo = _read("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.processor())
    flags_line = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal")), 0)
    try:
        from tensorflow.python.util import _pywrap_util_port
        onednn = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        onednn = None
    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "cpus_available_to_process": len(os.sched_getaffinity(0)),
        "simd_flags": [f for f in wanted if f in flags_line.split()],
        "memory_gb": round(mem_kb / 2**20, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "onednn_enabled": onednn,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "default",
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or "default",
    }


# --------------------------------------------------------------------------------------------
# The compute ceiling.


class Matmul:
    """An n x n float32 matmul: the best GFLOP/s this CPU reaches, measured next to each case.

    The machine is shared, so the ceiling moves with other people's load; each case is compared
    with matmuls timed just before and after it rather than with one number from the start.
    """

    def __init__(self, n: int):
        rng = tf.random.Generator.from_seed(1)
        self.n = n
        self.a = rng.normal([n, n])
        self.b = rng.normal([n, n])
        self.flops = 2.0 * n**3

    def _once(self) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        tf.linalg.matmul(self.a, self.b)[0, 0].numpy()
        return time.perf_counter() - t0, time.process_time() - c0

    def time(self, repeats: int, warmup: int = 1) -> list[tuple[float, float]]:
        """(wall s, process CPU s) of each timed repeat."""
        for _ in range(warmup):
            self._once()
        return [self._once() for _ in range(repeats)]

    def summary(self, samples: list[tuple[float, float]]) -> dict[str, Any]:
        wall = [w for w, _ in samples]
        cpu = [c for _, c in samples]
        return {"n": self.n, "repeats": len(samples), "median_s": statistics.median(wall),
                "gflops": self.flops / statistics.median(wall) / 1e9,
                "best_gflops": self.flops / min(wall) / 1e9,
                "cpu_cores_used": statistics.median(cpu) / statistics.median(wall),
                "gflops_per_cpu_second": self.flops / statistics.median(cpu) / 1e9}


# --------------------------------------------------------------------------------------------
# FLOP counts.


CONV_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")


def profiler_float_ops(graph: tf.Graph) -> int:
    """TF profiler's `float_operation` total over every op of the graph, as the profiler sees it.

    Kept for reference only: it also counts dead ops (gradient branches nobody consumes, which
    grappler prunes before running) and sizes the conv backprop ops by the conv's input, which
    over-counts the model's explicitly padded 'valid' convs by ((H + 2p) / H)^2 (2.25x on the
    4x4 latents of a 64x64 crop, 1.27x on 16x16). `step_flops` corrects both.
    """
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def live_ops(graph: tf.Graph) -> set[str]:
    """Names of the ops that feed the function's outputs or side effects (variable updates)."""
    seen: set[str] = set()
    stack = [t.op for t in graph.outputs] + list(getattr(graph, "control_outputs", []))
    while stack:
        op = stack.pop()
        if op.name not in seen:
            seen.add(op.name)
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
    return seen


def _conv_flops(op: tf.Operation) -> int:
    """2 x multiply-adds of a conv or one of its gradients: out-gradient elements x kh x kw x cin.

    For both backprop ops the out-gradient is input 2 and the filter shape is input 1 (input
    gradient) or the output (filter gradient); Conv2D is sized by its output.
    """
    if op.type == "Conv2D":
        out, kernel = op.outputs[0].shape, op.inputs[1].shape
    elif op.type == "Conv2DBackpropInput":
        out, kernel = op.inputs[2].shape, op.inputs[1].shape
    else:
        out, kernel = op.inputs[2].shape, op.outputs[0].shape
    if op.get_attr("data_format") != b"NHWC":
        raise ValueError(f"{op.name}: only NHWC convs are counted")
    return 2 * out.num_elements() * kernel[0] * kernel[1] * kernel[2]


def step_flops(graph: tf.Graph) -> tuple[dict[str, int], int]:
    """FLOPs per op type of the live ops of a traced step, and the FLOPs of its dead ops.

    Conv ops are counted by `_conv_flops`; every other op by TF's profiler FLOP registry (the
    formulas behind `ProfileOptionBuilder.float_operation()`: elementwise ops, reductions,
    pooling, MatMul); ops without a formula (pads, slices, gathers) count 0.
    """
    live = live_ops(graph)
    by_op: dict[str, int] = {}
    dead = 0
    for op in graph.get_operations():
        if op.type in CONV_OPS:
            flops = _conv_flops(op)
        else:
            try:
                flops = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value or 0
            except (ValueError, TypeError):  # shape not fully defined
                flops = 0
        if op.name in live:
            by_op[op.type] = by_op.get(op.type, 0) + int(flops)
        else:
            dead += int(flops)
    by_op = dict(sorted(((k, v) for k, v in by_op.items() if v), key=lambda kv: -kv[1]))
    return by_op, dead


def _conv(h: int, w: int, k: int, cin: int, cout: int, stride: int = 1) -> tuple[int, int, int]:
    """(forward FLOPs, output h, output w) of a k x k 'same' conv, 2 FLOPs per multiply-add."""
    oh, ow = -(-h // stride), -(-w // stride)
    return 2 * oh * ow * k * k * cin * cout, oh, ow


def analytic_conv_flops(m: Any, crop: int) -> dict[str, float]:
    """Forward conv FLOPs per image of E, G and D, from the architecture in the config.

    Written from the paper's layer list (Appendix E / pix2pixHD), not from the model code, so
    it is an independent check of the graph count. Also returns E's first layer and D's first
    and last (logits) layers summed over scales, which a training step partly skips.
    """
    h = w = crop
    enc = scaled_all(m.encoder_filters, m.width_multiplier)
    flops_e, h, w = _conv(h, w, 7, 3, enc[0])
    e_first = flops_e
    for cin, cout in zip(enc[:-1], enc[1:]):
        f, h, w = _conv(h, w, 3, cin, cout, stride=2)
        flops_e += f
    f, h, w = _conv(h, w, 3, enc[-1], m.num_channels)
    flops_e += f

    width = scaled(m.generator_filters, m.width_multiplier)
    cin = m.num_channels + m.noise_channels + m.condition_channels
    flops_g, h, w = _conv(h, w, 3, cin, width)
    flops_g += m.num_residual_blocks * 2 * _conv(h, w, 3, width, width)[0]
    cin = width
    for cout in scaled_all(m.upsample_filters, m.width_multiplier):
        if m.upsampling == "transpose":  # one 3x3 tap per input pixel and output channel
            flops_g += _conv(h, w, 3, cin, cout)[0]
        elif m.upsampling == "resize_conv":  # 3x3 conv at the upsampled resolution
            flops_g += _conv(2 * h, 2 * w, 3, cin, cout)[0]
        else:  # subpixel: 3x3 conv to 4x the channels at the low resolution
            flops_g += _conv(h, w, 3, cin, 4 * cout)[0]
        h, w, cin = 2 * h, 2 * w, cout
    flops_g += _conv(h, w, 7, cin, 3)[0]

    disc = scaled_all(m.discriminator_filters, m.width_multiplier)
    flops_d = d_first = d_last = 0
    h = w = crop
    for _ in range(m.discriminator_scales):
        sh, sw, cin = h, w, 3 + m.condition_channels
        for i, cout in enumerate([*disc, 1]):
            stride = 2 if i < len(disc) - 1 else 1
            f, sh, sw = _conv(sh, sw, 4, cin, cout, stride)
            flops_d += f
            d_first += f if i == 0 else 0
            d_last += f if i == len(disc) else 0
            cin = cout
        h, w = -(-h // 2), -(-w // 2)  # 3x3 stride-2 'same' average pooling
    return {"E": flops_e, "G": flops_g, "D": flops_d, "E_first": e_first, "D_first": d_first,
            "D_last": d_last}


def analytic_step_flops(per_image: dict[str, float], batch: int, gan: bool) -> float:
    """Conv FLOPs of one train step: forward, input gradients and weight gradients.

    Each conv's two backward ops cost what its forward does. Distortion step: 3x (E + G),
    minus E's first input gradient. GAN step adds D on fake and real in the G update (2
    forwards, less the real logits that feature matching skips, and the input gradients of the
    fake pass) and the D update (2 forwards, 2 weight gradients, 2 input gradients without the
    first layer's): 9 D forwards minus 2 first layers minus 1 logits layer.
    """
    flops = 3 * (per_image["E"] + per_image["G"]) - per_image["E_first"]
    if gan:
        flops += 9 * per_image["D"] - 2 * per_image["D_first"] - per_image["D_last"]
    return batch * flops


# --------------------------------------------------------------------------------------------
# One case = one config, batch size and mode.


@dataclass
class Case:
    config: str
    crop: int
    batch: int
    mode: str
    params: dict[str, int] = field(default_factory=dict)
    trace_s: float = 0.0
    first_step_s: float = 0.0
    warmup_steps: int = 0
    step_times_s: list[float] = field(default_factory=list)
    median_s: float = 0.0
    iqr_s: list[float] = field(default_factory=list)
    iqr_width_s: float = 0.0
    steps_per_s: float = 0.0
    images_per_s: float = 0.0
    flops_per_step: int = 0
    flops_method: str = (
        "live ops of the traced train-step graph: convs and their gradients as 2 x multiply-adds,"
        " other ops by TF profiler's float_operation registry")
    flops_by_op_type: dict[str, int] = field(default_factory=dict)
    conv_flops_per_step: int = 0
    dead_op_flops: int = 0
    profiler_float_ops: int = 0
    analytic_conv_flops_per_step: float = 0.0
    profiler_conv_over_analytic: float = 0.0
    gflops: float = 0.0
    matmul_gflops: float = 0.0
    fraction_of_matmul_peak: float = 0.0
    fraction_of_run_matmul: float = 0.0
    cpu_cores_used: float = 0.0
    gflops_per_cpu_second: float = 0.0
    fraction_of_matmul_per_cpu_second: float = 0.0
    loadavg_1min: float = 0.0


def load_config(name: str):
    """`tiny`, `configs/tiny.py` or `configs.tiny` -> (get_config(), short name)."""
    module = name.removesuffix(".py").replace(os.sep, ".")
    if not module.startswith("configs."):
        module = "configs." + module
    return importlib.import_module(module).get_config(), module.split(".", 1)[1]


def run_case(model, case: Case, args: argparse.Namespace, jit: bool, matmul: Matmul,
             deadline: float) -> Case:
    """Traces, warms up and times one (batch, mode); the model's weights drift, which is fine."""
    rng = tf.random.Generator.from_seed(case.batch)
    shape = [case.batch, case.crop, case.crop, 3]
    batches = [rng.uniform(shape) for _ in range(2)]  # alternate two batches
    model.gan_active = case.mode == "gan"
    # Our own tf.function per mode: gan_active is read once, at trace time.
    fn = tf.function(model.train_step, jit_compile=jit)
    t0 = time.perf_counter()
    concrete = fn.get_concrete_function(tf.TensorSpec(shape, tf.float32))
    case.trace_s = time.perf_counter() - t0
    case.flops_by_op_type, case.dead_op_flops = step_flops(concrete.graph)
    case.flops_per_step = sum(case.flops_by_op_type.values())
    case.profiler_float_ops = profiler_float_ops(concrete.graph)
    case.conv_flops_per_step = sum(case.flops_by_op_type.get(op, 0) for op in CONV_OPS)

    def step(i: int) -> None:
        outputs = concrete(batches[i % 2])
        outputs["g_loss"].numpy()  # wait for the step to finish

    t0 = time.perf_counter()
    step(0)  # the first run also optimises the graph (grappler) and allocates buffers
    case.first_step_s = time.perf_counter() - t0
    log(f"  {case.config} b{case.batch} {case.mode}: traced in {case.trace_s:.1f} s, "
        f"{case.flops_per_step / 1e9:.2f} GFLOP/step, first step {case.first_step_s:.2f} s")
    # Extra untimed steps, unless the first one was already long (paper model: tens of s).
    t0 = time.perf_counter()
    while (case.warmup_steps < args.warmup and time.perf_counter() < deadline
           and case.first_step_s + time.perf_counter() - t0 < args.warmup_seconds):
        case.warmup_steps += 1
        step(case.warmup_steps)

    mm_samples = matmul.time(args.matmul_local_repeats)
    started, cpu_time = time.perf_counter(), 0.0
    while len(case.step_times_s) < args.steps:
        now = time.perf_counter()
        if len(case.step_times_s) >= args.min_steps and (
                now - started > args.case_seconds or now > deadline):
            break
        c0 = time.process_time()
        step(len(case.step_times_s))
        case.step_times_s.append(time.perf_counter() - now)
        cpu_time += time.process_time() - c0
    mm_samples += matmul.time(args.matmul_local_repeats)

    times = case.step_times_s
    case.median_s = statistics.median(times)
    q1, q3 = np.percentile(times, [25, 75])
    case.iqr_s = [float(q1), float(q3)]
    case.iqr_width_s = float(q3 - q1)
    case.steps_per_s = 1.0 / case.median_s
    case.images_per_s = case.batch / case.median_s
    case.gflops = case.flops_per_step / case.median_s / 1e9
    local = matmul.summary(mm_samples)
    case.matmul_gflops = local["gflops"]
    case.fraction_of_matmul_peak = case.gflops / local["gflops"]
    case.cpu_cores_used = cpu_time / sum(times)
    case.gflops_per_cpu_second = case.flops_per_step * len(times) / cpu_time / 1e9
    case.fraction_of_matmul_per_cpu_second = (case.gflops_per_cpu_second
                                              / local["gflops_per_cpu_second"])
    case.loadavg_1min = loadavg()[0]
    log(f"  {case.config} b{case.batch} {case.mode}: median {case.median_s:.3f} s/step over "
        f"{len(times)} steps (IQR {q1:.3f}-{q3:.3f}), {case.images_per_s:.2f} img/s, "
        f"{case.gflops:.1f} GFLOP/s = {100 * case.fraction_of_matmul_peak:.0f}% of matmul "
        f"({case.matmul_gflops:.0f} GFLOP/s), {case.cpu_cores_used:.2f} cores used")
    return case


# --------------------------------------------------------------------------------------------
# Reports.


def markdown(report: dict[str, Any]) -> str:
    m, mm = report["machine"], report["matmul"]
    lines = [
        "# Training-step throughput (CPU)",
        "",
        f"{report['date']}; {m['cpu_model']}, {m['logical_cpus']} logical CPUs "
        f"({', '.join(m['simd_flags'])}); TensorFlow {m['tensorflow']}, oneDNN "
        f"{m['onednn_enabled']}. Synthetic batches. `{report['command']}`, "
        f"{report['total_s'] / 60:.1f} min.",
        "",
        f"**Shared machine:** {report['note']} Load average (1/5/15 min): start "
        f"{report['loadavg_start']}, end {report['loadavg_end']}.",
        "",
        f"Matmul ceiling ({mm['n']}x{mm['n']} float32, median of {mm['start']['repeats']} "
        f"repeats): {mm['start']['gflops']:.0f} GFLOP/s at the start, {mm['end']['gflops']:.0f} "
        f"at the end, {mm['gflops_per_cpu_second']:.0f} GFLOP per CPU-second of this process. "
        "'% of matmul' compares each case with matmuls timed just before and after it "
        "(column 'matmul'), since the share of the CPU we got kept changing.",
        "",
        "| config | crop | batch | mode | median s/step | IQR s | steps/s | images/s "
        "| GFLOP/step | GFLOP/s | matmul GFLOP/s | % of matmul | % of matmul per CPU-s "
        "| cores used | timed steps |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['config']} | {r['crop']} | {r['batch']} | {r['mode']} | {r['median_s']:.3f} "
            f"| {r['iqr_s'][0]:.3f}-{r['iqr_s'][1]:.3f} | {r['steps_per_s']:.3f} "
            f"| {r['images_per_s']:.2f} | {r['flops_per_step'] / 1e9:.1f} | {r['gflops']:.1f} "
            f"| {r['matmul_gflops']:.0f} | {100 * r['fraction_of_matmul_peak']:.0f}% "
            f"| {100 * r['fraction_of_matmul_per_cpu_second']:.0f}% "
            f"| {r['cpu_cores_used']:.2f} | {len(r['step_times_s'])} |")
    lines += [
        "",
        "GFLOP/step: the live ops of the traced train-step graph (what grappler keeps); convs "
        "and their gradients counted as 2 x multiply-adds from their shapes, every other op by "
        "the FLOP formulas of TF's profiler (`ProfileOptionBuilder.float_operation()`). Checks: "
        "'analytic conv' is written from the paper's layer list (forward + input and weight "
        "gradients); 'raw profiler' is `tf.compat.v1.profiler.profile(graph, "
        "float_operation())` as is, which also counts dead gradient ops and sizes conv "
        "gradients by the padded input.",
        "",
        "| config | batch | mode | GFLOP/step | conv GFLOP | analytic conv GFLOP "
        "| conv / analytic | non-conv share | raw profiler GFLOP | raw / used |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['config']} | {r['batch']} | {r['mode']} | {r['flops_per_step'] / 1e9:.2f} "
            f"| {r['conv_flops_per_step'] / 1e9:.2f} "
            f"| {r['analytic_conv_flops_per_step'] / 1e9:.2f} "
            f"| {r['profiler_conv_over_analytic']:.4f} "
            f"| {100 * (1 - r['conv_flops_per_step'] / r['flops_per_step']):.1f}% "
            f"| {r['profiler_float_ops'] / 1e9:.2f} "
            f"| {r['profiler_float_ops'] / r['flops_per_step']:.3f} |")
    lines += ["", "| config | params E | params G | params D |", "|---|---|---|---|"]
    for name, p in report["params"].items():
        lines.append(f"| {name} | {p['E']:,} | {p['G']:,} | {p['D']:,} |")
    lines += [
        "",
        "Median and IQR over the timed steps, after the first (graph-optimising) run and up to "
        f"{report['args']['warmup']} untimed warm-up step(s) (skipped when the first step "
        f"already took over {report['args']['warmup_seconds']:.0f} s). 'cores used' = this "
        "process's CPU time / wall time while timing (2 = the whole machine); '% of matmul per "
        "CPU-s' compares GFLOP per CPU-second, which depends less on how much CPU we were given.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def csv(kind):
        return lambda s: [kind(x) for x in s.replace(",", " ").split()]

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", type=csv(str), default=["tiny", "gc_paper_c8"],
                   help="comma-separated config names in configs/ (default tiny,gc_paper_c8)")
    p.add_argument("--batch-sizes", type=csv(int), default=[1, 8], help="default 1,8")
    p.add_argument("--modes", type=csv(str), default=list(MODES), help="distortion,gan")
    p.add_argument("--crop", type=int, default=256, help="square crop size (multiple of 16)")
    p.add_argument("--steps", type=int, default=20, help="max timed steps per case")
    p.add_argument("--min-steps", type=int, default=3,
                   help="timed steps per case even when over the time budgets")
    p.add_argument("--case-seconds", type=float, default=20.0,
                   help="stop timing a case after this long (once --min-steps are done)")
    p.add_argument("--time-limit", type=float, default=480.0,
                   help="after this many seconds in total: no warm-up, only --min-steps")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps after the first run")
    p.add_argument("--warmup-seconds", type=float, default=10.0,
                   help="no extra warm-up once the first run (+ warm-up) took this long")
    p.add_argument("--matmul-size", type=int, default=2048)
    p.add_argument("--matmul-repeats", type=int, default=10, help="at the start and the end")
    p.add_argument("--matmul-local-repeats", type=int, default=3,
                   help="matmuls timed before and after each case")
    p.add_argument("--out", default=DEFAULT_OUT,
                   help="JSON path; the Markdown table goes next to it with suffix .md")
    p.add_argument("--note", default="the CPU was shared with a background train.py run and "
                   "other engineers' jobs, so absolute times are pessimistic and noisy.")
    args = p.parse_args(argv)
    bad = sorted(set(args.modes) - set(MODES))
    if bad:
        p.error(f"unknown mode(s) {bad}; choose from {MODES}")
    if args.crop % 16:
        p.error("--crop must be a multiple of 16")
    if args.min_steps < 1 or args.steps < args.min_steps:
        p.error("need 1 <= --min-steps <= --steps")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    deadline = start + args.time_limit
    report: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(["bench/train_throughput.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "note": args.note,
        "args": vars(args),
        "machine": machine_info(),
        "loadavg_start": loadavg(),
    }
    log(f"load average {report['loadavg_start']} on {os.cpu_count()} CPUs; "
        f"TF {tf.__version__}")
    matmul = Matmul(args.matmul_size)
    matmul_start = matmul.summary(matmul.time(args.matmul_repeats, warmup=2))
    log(f"matmul {args.matmul_size}^2: {matmul_start['gflops']:.1f} GFLOP/s")

    results: list[Case] = []
    params: dict[str, dict[str, int]] = {}
    analytic: dict[str, dict[str, float]] = {}
    for name in args.configs:
        config, short = load_config(name)
        config.data.crop_size = args.crop
        tf.keras.backend.clear_session()
        gc.collect()
        tf.keras.utils.set_random_seed(config.seed)
        t0 = time.perf_counter()
        model, _ = build_model(config)
        params[short] = {"E": model.encoder.count_params(),
                         "G": model.generator.count_params(),
                         "D": model.discriminator.count_params()}
        analytic[short] = analytic_conv_flops(config.model, args.crop)
        log(f"{short}: built in {time.perf_counter() - t0:.1f} s; params {params[short]}")
        for batch in args.batch_sizes:
            for mode in args.modes:
                case = Case(short, args.crop, batch, mode, params=params[short])
                run_case(model, case, args, bool(config.jit_compile), matmul, deadline)
                case.analytic_conv_flops_per_step = analytic_step_flops(
                    analytic[short], batch, mode == "gan")
                case.profiler_conv_over_analytic = (case.conv_flops_per_step
                                                    / case.analytic_conv_flops_per_step)
                results.append(case)
                gc.collect()
        del model
    if time.perf_counter() > deadline:
        log(f"over --time-limit {args.time_limit:.0f} s: later cases got only --min-steps")
    matmul_end = matmul.summary(matmul.time(args.matmul_repeats))
    log(f"matmul {args.matmul_size}^2 at the end: {matmul_end['gflops']:.1f} GFLOP/s")

    run_peak = statistics.median([matmul_start["gflops"], matmul_end["gflops"]])
    for case in results:
        case.fraction_of_run_matmul = case.gflops / run_peak
    report.update({
        "loadavg_end": loadavg(),
        "total_s": time.perf_counter() - start,
        "matmul": {"n": args.matmul_size, "gflops": run_peak,
                   "gflops_per_cpu_second": statistics.median(
                       [matmul_start["gflops_per_cpu_second"],
                        matmul_end["gflops_per_cpu_second"]]),
                   "start": matmul_start, "end": matmul_end},
        "params": params,
        "analytic_forward_conv_flops_per_image": analytic,
        "results": [asdict(c) for c in results],
    })
    out = args.out
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    md_path = os.path.splitext(out)[0] + ".md"
    with open(md_path, "w") as f:
        f.write(markdown(report))
    log(f"wrote {out} and {md_path} in {report['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
