"""Training throughput of hpo's trial loop against ``transformers.Trainer``, and how to use 2 cores.

Same model (all-MiniLM-L6-v2), same data (a fixed slice of SST-2's training rows), same batch
size, same torch threads, W&B and ``report_to`` off. Compared:

- ``hpo``: ``hpo.trainers.runs.fine_tune.fine_tune`` with hpo's defaults (dynamic padding, length-grouped batches);
- ``trainer_max_length``: ``Trainer`` as the HF text-classification example (``run_glue.py``)
  configures it: every row padded to ``max_length=128``, ``default_data_collator``;
- ``trainer_dynamic``: ``Trainer`` with ``DataCollatorWithPadding`` (padding to each batch's longest);
- ``trainer_grouped`` (extra): the dynamic-padding ``Trainer`` with length-grouped batches
  (``train_sampling_strategy="group_by_length"``), to tell the sampler's share from the loop's.

Training only: a global optimizer-step hook (``torch.optim.optimizer.register_optimizer_step_post_hook``)
times optimizer steps ``warmup+1 .. warmup+steps`` in every loop alike, so model loading,
tokenisation and evaluation are outside the window. Each run is a fresh process; the methods are
interleaved in rounds (a, b, c, d, a, b, c, d, ...) and the report gives the median and the spread,
because the machine's cores are shared with other work.

The cores experiment: hpo's loop as one trial with 2 threads, against two trials with 1 thread
each running at the same time (two processes that start their timed windows together at a
barrier; total samples/s over both).

    python -m benchmarks.throughput            # the full benchmark (benchmarks/README.md)
    python -m benchmarks.throughput --smoke    # a tiny BERT, a few steps: checks the plumbing
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks import environment as recorded

NAME = "throughput"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_RATIO = 1.3  # issue 4: hpo's loop at least 1.3x the dynamic-padding Trainer on CPU
RUN_TIMEOUT_S = 1800  # one process group; a hung run fails the benchmark instead of blocking it


@dataclass(frozen=True)
class Method:
    """One training loop: hpo's, or ``transformers.Trainer`` configured one way."""

    name: str
    label: str
    loop: str  # hpo | trainer
    padding: str = "dynamic"  # dynamic | max_length (Trainer only; hpo always pads dynamically)
    grouped: bool = False  # Trainer: length-grouped batches
    extra: bool = False  # not one of the comparisons; reported beside them


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("hpo", "hpo trial loop (defaults)", "hpo"),
    Method("trainer_max_length", "Trainer, padding to 128 (run_glue.py)", "trainer", padding="max_length"),
    Method("trainer_dynamic", "Trainer, DataCollatorWithPadding", "trainer"),
    Method("trainer_grouped", "Trainer, DataCollatorWithPadding + group_by_length (extra)", "trainer", grouped=True, extra=True),
)}


@dataclass(frozen=True)
class Settings:
    """What every run shares: the model, the data slice, the window and the seeds."""

    model: str = "minilm"  # hpo model config option (hydra_conf/model/)
    steps: int = 20  # timed optimizer steps
    warmup: int = 4  # optimizer steps before the window
    batch_size: int = 16
    max_length: int = 128
    seed: int = 42  # trainer.seed: weights of the head, dropout, batch order
    data_seed: int = 0  # sweep.seed: which SST-2 rows form the slice

    @property
    def rows(self) -> int:
        """One epoch of the slice is exactly the timed window, so each loop sees about all of it."""
        return self.steps * self.batch_size


# ----------------------------------------------------------------------------- one run (in its own process)


class WindowDone(Exception):
    """Raised from the optimizer hook once the window is timed: ends hpo's loop early."""


class WindowClock:
    """Times optimizer steps ``warmup+1 .. warmup+steps`` of whichever loop runs in this process.

    The same global hooks serve every loop, so every loop is timed at the same point of its
    step. A forward pre-hook on the top-level model (found on the first forward, after which the
    global module hook is removed) counts the real and the padded tokens inside the window.
    """

    def __init__(self, warmup: int, steps: int, barrier: Any = None, stop: bool = False) -> None:
        import torch
        from torch.nn.modules.module import register_module_forward_pre_hook
        from torch.optim.optimizer import register_optimizer_step_post_hook

        if warmup < 1 or steps < 1:
            raise ValueError("warmup and steps must be at least 1")
        self.torch, self.warmup, self.steps, self.barrier, self.stop = torch, warmup, steps, barrier, stop
        self.step, self.start, self.end, self.threads, self.optimizer = 0, None, None, None, None
        self.tokens = self.padded = 0
        self._handles = [register_optimizer_step_post_hook(self._on_step), register_module_forward_pre_hook(self._find_model)]

    def _find_model(self, module: Any, args: Any) -> None:
        # the first module entered in a forward is the whole model; watch it alone from now on
        self._handles.append(module.register_forward_pre_hook(self._count, with_kwargs=True))
        self._handles.pop(1).remove()

    def _count(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        if self.start is not None and self.end is None and module.training:
            ids, mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
            if ids is not None:
                self.padded += ids.numel()
                self.tokens += int(mask.sum()) if mask is not None else ids.numel()

    def _on_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.step += 1
        if self.step == self.warmup:
            if self.barrier is not None:
                self.barrier.wait(timeout=RUN_TIMEOUT_S)  # concurrent runs start their windows together
            self.threads = self.torch.get_num_threads()
            defaults = optimizer.defaults
            self.optimizer = f"{type(optimizer).__name__}(fused={defaults.get('fused')}, foreach={defaults.get('foreach')})"
            self.start = time.perf_counter()
        elif self.step == self.warmup + self.steps:
            self.end = time.perf_counter()
            if self.stop:
                raise WindowDone

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def hpo_config(s: Settings) -> dict[str, Any]:
    """hpo's defaults, composed like any sweep; only the data slice, the seeds and the run length set here.

    ``trainer.epochs=2`` and a never-reached ``eval_every_steps`` only make the run long enough
    for the window and keep evaluation out of it; the window's steps are hpo's default steps.
    """
    from hpo.search.config.checks import check
    from hpo.search.config.compose import compose_config
    from hpo.search.config.schema import resolve

    cfg = resolve(compose_config("demo", [
        f"model={s.model}", "data=sst2", f"data.max_train_samples={s.rows}", "data.max_eval_samples=32",
        f"trainer.batch_size={s.batch_size}", f"trainer.max_seq_length={s.max_length}", f"trainer.seed={s.seed}",
        f"sweep.seed={s.data_seed}", "trainer.epochs=2", "trainer.eval_every_steps=1000000", "logger=none",
    ]))
    check(cfg)
    return cfg


def run_hpo(cfg: dict[str, Any], threads: int) -> None:
    from hpo.trainers.runs.fine_tune import fine_tune

    try:
        fine_tune(cfg, lambda metrics, snapshot: None, num_threads=threads)
    except WindowDone:
        return
    raise RuntimeError("hpo's loop ended before the timed window did")


def run_trainer(method: Method, cfg: dict[str, Any], s: Settings, threads: int) -> None:
    """``Trainer`` on the same rows, model and tokenizer, configured as its users would."""
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, default_data_collator
    from transformers import logging as hf_logging

    from hpo.trainers.data.loading import load_splits
    from hpo.trainers.models.modeling import build_classifier, load_tokenizer

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(threads)
    trainer_cfg = cfg["trainer"]
    splits = load_splits(cfg["data"], seed=cfg["sweep"]["seed"])
    tokenizer = load_tokenizer(cfg["model"])
    model = build_classifier(cfg["model"], splits.label_names, trainer_cfg["dropout"])
    padding = "max_length" if method.padding == "max_length" else False

    def encode(batch: dict[str, list]) -> dict[str, list]:  # run_glue.py's preprocess_function
        return tokenizer(batch["text"], padding=padding, max_length=s.max_length, truncation=True)

    train = splits.train.map(encode, batched=True)
    sampling = {"train_sampling_strategy": "group_by_length" if method.grouped else "random"}
    if "train_sampling_strategy" not in TrainingArguments.__dataclass_fields__:  # transformers < 5
        sampling = {"group_by_length": method.grouped}
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=s.batch_size, max_steps=s.warmup + s.steps,
            learning_rate=trainer_cfg["learning_rate"], weight_decay=trainer_cfg["weight_decay"],
            max_grad_norm=trainer_cfg["max_grad_norm"], seed=s.seed, report_to="none", eval_strategy="no",
            save_strategy="no", logging_strategy="no", disable_tqdm=True, use_cpu=True, dataloader_num_workers=0,
            **sampling,
        )
        collator = default_data_collator if padding else DataCollatorWithPadding(tokenizer)
        Trainer(model=model, args=args, train_dataset=train, data_collator=collator, processing_class=tokenizer).train()


def measure(method: Method, cfg: dict[str, Any], s: Settings, threads: int, barrier: Any = None) -> dict[str, Any]:
    """One timed run of one method in this process."""
    load = os.getloadavg()[0]
    clock = WindowClock(s.warmup, s.steps, barrier, stop=method.loop == "hpo")
    try:
        if method.loop == "hpo":
            run_hpo(cfg, threads)
        else:
            run_trainer(method, cfg, s, threads)
    finally:
        clock.close()
    if clock.end is None:
        raise RuntimeError(f"{method.name}: {clock.step} optimizer steps, fewer than warmup + steps = {s.warmup + s.steps}")
    samples = s.steps * s.batch_size
    seconds = clock.end - clock.start
    return {
        "method": method.name, "threads": threads, "torch_threads": clock.threads, "optimizer": clock.optimizer,
        "samples": samples, "seconds": round(seconds, 4), "samples_per_second": round(samples / seconds, 3),
        "tokens_per_sample": round(clock.tokens / samples, 2), "padded_tokens_per_sample": round(clock.padded / samples, 2),
        "start": clock.start, "end": clock.end, "load_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
    }


def _worker(name: str, cfg: dict[str, Any], s: Settings, threads: int, barrier: Any, queue: Any, index: int) -> None:
    try:
        queue.put((index, measure(METHODS[name], cfg, s, threads, barrier)))
    except BaseException:  # noqa: BLE001 - the parent reports it
        if barrier is not None:
            barrier.abort()  # the other run of a concurrent pair must not wait forever
        queue.put((index, {"error": traceback.format_exc()}))


def run_group(jobs: list[tuple[str, int]], cfg: dict[str, Any], s: Settings) -> list[dict[str, Any]]:
    """Run ``(method, threads)`` jobs at the same time, each in a fresh process; their windows start together."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(jobs)) if len(jobs) > 1 else None
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(name, cfg, s, threads, barrier, queue, i), daemon=True) for i, (name, threads) in enumerate(jobs)]
    for p in procs:
        p.start()
    results: list[dict[str, Any]] = [{}] * len(jobs)
    try:
        for _ in jobs:
            index, result = queue.get(timeout=RUN_TIMEOUT_S)
            results[index] = result
    except BaseException:
        for p in procs:
            p.terminate()
        raise
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"a run of {jobs} failed:\n" + "\n".join(errors))
    return results


# ----------------------------------------------------------------------------- the benchmark


def spread(values: list[float]) -> dict[str, float]:
    """Median, min, max and (max - min) / median of a metric over rounds."""
    med = statistics.median(values)
    return {"median": round(med, 3), "min": round(min(values), 3), "max": round(max(values), 3),
            "spread": round((max(values) - min(values)) / med, 4) if med else 0.0, "n": len(values)}


def benchmark(args: argparse.Namespace, s: Settings, progress: Any = print) -> dict[str, Any]:
    """Every method, then the cores experiment, in interleaved rounds."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("WANDB_MODE", "disabled")
    cfg = hpo_config(s)  # composed once: every run gets the same config
    runs: list[dict[str, Any]] = []
    cores: list[dict[str, Any]] = []
    started = time.monotonic()
    for round_ in range(args.rounds):
        for name in args.methods:
            r = {"round": round_, **run_group([(name, args.threads)], cfg, s)[0]}
            runs.append(r)
            progress(f"[{time.monotonic() - started:6.0f}s] round {round_} {name:<19} {r['samples_per_second']:8.2f} samples/s "
                     f"({r['padded_tokens_per_sample']:.0f} padded / {r['tokens_per_sample']:.0f} real tokens a sample, load {r['load_1min']})")
        if args.cores:
            single = run_group([("hpo", 2)], cfg, s)[0]
            pair = run_group([("hpo", 1), ("hpo", 1)], cfg, s)
            wall = max(r["end"] for r in pair) - min(r["start"] for r in pair)
            total = sum(r["samples"] for r in pair) / wall
            cores.append({"round": round_, "one_trial_2_threads": single, "two_trials_1_thread": pair,
                          "one_trial_samples_per_second": single["samples_per_second"],
                          "two_trials_samples_per_second": round(total, 3),
                          "two_trials_sum_of_rates": round(sum(r["samples_per_second"] for r in pair), 3)})
            progress(f"[{time.monotonic() - started:6.0f}s] round {round_} cores: one trial x 2 threads {single['samples_per_second']:.2f}, "
                     f"two trials x 1 thread {total:.2f} samples/s in all")
    return {"benchmark": NAME, "environment": environment(args, s), "methods": args.methods,
            "summary": summarise(runs, cores, args.methods), "runs": runs, "cores": cores,
            "wall_seconds": round(time.monotonic() - started, 1)}


def summarise(runs: list[dict[str, Any]], cores: list[dict[str, Any]], methods: list[str]) -> dict[str, Any]:
    """Per-method spread, the paired per-round ratios of hpo to each Trainer, the cores verdict."""
    by = {m: [r for r in runs if r["method"] == m] for m in methods}
    summary: dict[str, Any] = {"samples_per_second": {m: spread([r["samples_per_second"] for r in by[m]]) for m in methods},
                               "padded_tokens_per_sample": {m: statistics.median(r["padded_tokens_per_sample"] for r in by[m]) for m in methods},
                               "tokens_per_sample": {m: statistics.median(r["tokens_per_sample"] for r in by[m]) for m in methods},
                               "ratios": {}}
    if "hpo" in by:
        for m in methods:
            if m == "hpo":
                continue
            paired = [a["samples_per_second"] / b["samples_per_second"] for a, b in zip(by["hpo"], by[m], strict=True)]
            summary["ratios"][f"hpo/{m}"] = {
                **spread(paired),
                "of_medians": round(summary["samples_per_second"]["hpo"]["median"] / summary["samples_per_second"][m]["median"], 3),
            }
        if "trainer_dynamic" in by:
            ratio = summary["ratios"]["hpo/trainer_dynamic"]["median"]
            summary["target"] = {"hpo_over_dynamic_trainer_at_least": TARGET_RATIO, "measured": ratio, "met": ratio >= TARGET_RATIO}
    if cores:
        one = spread([c["one_trial_samples_per_second"] for c in cores])
        two = spread([c["two_trials_samples_per_second"] for c in cores])
        paired = spread([c["two_trials_samples_per_second"] / c["one_trial_samples_per_second"] for c in cores])
        summary["cores"] = {"one_trial_2_threads": one, "two_trials_1_thread": two, "two_over_one": paired,
                            "better": "two trials x 1 thread" if paired["median"] > 1 else "one trial x 2 threads"}
    return summary


def environment(args: argparse.Namespace, s: Settings) -> dict[str, Any]:
    """Machine, versions, the shared settings and seeds, and the command, so a result can be reproduced."""
    import torch

    return {
        "machine": recorded.machine(),
        "versions": recorded.versions("hpo", "torch", "transformers", "accelerate", "datasets", "tokenizers"),
        "torch_parallel_info": torch.__config__.parallel_info().splitlines()[:6],
        "hpo_commit": recorded.git_commit(),
        "device": "cpu",
        "settings": {**asdict(s), "rows": s.rows},
        "seeds": {"trainer.seed (weights of the head, dropout, batch order)": s.seed, "sweep.seed (the SST-2 slice)": s.data_seed},
        "threads": args.threads,
        "rounds": args.rounds,
        "smoke": args.smoke,
        "shared_machine": "other engineers' jobs ran on the same cores during the benchmark; load_1min is recorded per run",
        "command": " ".join(["python -m benchmarks.throughput", *args.argv]),
    }


def fmt_spread(x: dict[str, float], digits: int = 1) -> str:
    return f"{x['median']:.{digits}f} ({x['min']:.{digits}f}–{x['max']:.{digits}f})"


def markdown(result: dict[str, Any]) -> str:
    """The Markdown report: settings, the throughput table, the ratios, the cores experiment."""
    env, summ = result["environment"], result["summary"]
    st, v = env["settings"], env["versions"]
    lines = [
        "# Training throughput: hpo's trial loop against transformers.Trainer",
        "",
        f"Model `{st['model']}`, {st['rows']} SST-2 training rows (sweep.seed {st['data_seed']}), batch size {st['batch_size']}, "
        f"max length {st['max_length']}, {env['threads']} torch thread(s) each, trainer.seed {st['seed']}; "
        f"{st['steps']} optimizer steps timed after {st['warmup']} warm-up steps (training only), each run a fresh process, "
        f"{env['rounds']} interleaved rounds. Machine: {env['machine']['platform']}, {env['machine']['cpu_count']} CPUs, "
        "shared with other engineers' jobs while this ran (hence medians, with min–max over rounds). "
        + ", ".join(f"{k} {val}" for k, val in v.items()) + f". Command: `{env['command']}`.",
        "",
        "| method | samples/s, median (min–max) | spread | hpo / this (per-round median, min–max) | padded / real tokens a sample |",
        "|---|---|---|---|---|",
    ]
    for m in result["methods"]:
        sps = summ["samples_per_second"][m]
        ratio = summ["ratios"].get(f"hpo/{m}")
        cell = fmt_spread(ratio, 2) if ratio else "1"
        lines.append(f"| {METHODS[m].label} | {fmt_spread(sps)} | {sps['spread']:.0%} | {cell} | "
                     f"{summ['padded_tokens_per_sample'][m]:.1f} / {summ['tokens_per_sample'][m]:.1f} |")
    if "target" in summ:
        t = summ["target"]
        lines += ["", f"Target (issue 4): hpo at least {t['hpo_over_dynamic_trainer_at_least']}x the dynamic-padding Trainer: "
                  f"**{'met' if t['met'] else 'missed'}** ({t['measured']:.2f}x)."]
    if "cores" in summ:
        c = summ["cores"]
        lines += [
            "", "## How to use 2 cores (hpo's loop)", "",
            "| layout | total samples/s, median (min–max) |", "|---|---|",
            f"| one trial, 2 threads | {fmt_spread(c['one_trial_2_threads'])} |",
            f"| two concurrent trials, 1 thread each | {fmt_spread(c['two_trials_1_thread'])} |",
            "", f"Two 1-thread trials / one 2-thread trial: {fmt_spread(c['two_over_one'], 2)} (per round). Better: **{c['better']}**.",
        ]
    optimizers = sorted({f"{r['method']}: {r['optimizer']}" for r in result["runs"]})
    lines += ["", "Optimizers as run: " + "; ".join(optimizers) + "."]
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out: Path) -> dict[str, Path]:
    return recorded.write_results(NAME, result, markdown(result), out)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Settings]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny BERT, 4 steps, 1 round, no extra: checks the plumbing")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds; default 3 (smoke: 1)")
    p.add_argument("--steps", type=int, default=None, help="timed optimizer steps (= one epoch of the slice); default 20 (smoke: 4)")
    p.add_argument("--warmup", type=int, default=None, help="untimed optimizer steps first; default 4 (smoke: 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of every compared run (hpo's default trial has 1 CPU)")
    p.add_argument("--methods", nargs="+", default=None, choices=list(METHODS), help="default: all (smoke: all but the extra)")
    p.add_argument("--no-cores", dest="cores", action="store_false", help="skip the one-trial-vs-two-trials experiment")
    p.add_argument("--out", type=Path, default=None, help="default: benchmarks/results (smoke: benchmarks/results/smoke)")
    args, _ = p.parse_known_args(argv)  # run_all passes every benchmark the same options
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    smoke = args.smoke
    args.rounds = args.rounds or (1 if smoke else 3)
    args.methods = args.methods or [m for m in METHODS if not (smoke and METHODS[m].extra)]
    args.out = args.out or (RESULTS_DIR / "smoke" if smoke else RESULTS_DIR)  # a smoke run never replaces a result
    settings = Settings(model="tiny_bert" if smoke else "minilm", steps=args.steps or (4 if smoke else 20),
                        warmup=args.warmup or (2 if smoke else 4))
    return args, settings


def main(argv: list[str] | None = None) -> dict[str, Path]:
    """Run the benchmark and write its JSON and Markdown; returns their paths."""
    args, settings = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed benchmark ends its runs' processes too
    paths = write(benchmark(args, settings), args.out)
    print(paths["md"].read_text())
    return paths


if __name__ == "__main__":
    main()
