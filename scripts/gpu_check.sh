#!/usr/bin/env bash
# The GPU paths of hpo in a few minutes, on a machine with NVIDIA GPUs (run it whenever one is at hand):
#   1. whole-GPU trials (resources=gpu), MiniLM on an SST-2 slice;
#   2. fractional GPUs: 4 trials sharing one GPU (resources.gpus_per_trial=0.25), run at once;
#   3. bf16 and fp16 trials (trainer.precision searched);
#   4. a 2-worker data-parallel trial (DDP over NCCL) when 2 GPUs are visible.
# After each sweep it prints what ran where (trial, node, GPU ids Ray gave it, precision, peak GPU memory)
# and the GPU memory in use between sweeps (what the finished trials released).
#
#   bash scripts/gpu_check.sh [OUT_DIR]          # default /tmp/hpo-gpu-check; needs `make install` first
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-/tmp/hpo-gpu-check}"
HPO="${HPO:-.venv/bin/hpo}"
PY="${PY:-.venv/bin/python}"
export WANDB_MODE=offline
rm -rf "$OUT" && mkdir -p "$OUT"
COMMON=(model=minilm data=sst2 data.max_train_samples=1024 data.max_eval_samples=256 trainer.max_seq_length=64
        trainer.epochs=1 logger=none scheduler=fifo searcher=random sweep.test_top_k=1)

gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
echo "== $(date -Is) $gpus GPU(s):"
nvidia-smi --query-gpu=index,name,memory.total,memory.used --format=csv

where() {  # what ran where: one line per trial from its reports
  "$PY" - "$1" <<'EOF'
import json, sys
from pathlib import Path
for trial in sorted(Path(sys.argv[1]).glob("trials/trial_*")):
    rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines() if line.strip()]
    if not rows:
        print(f"  {trial.name}: no report"); continue
    last = rows[-1]
    params = json.loads((trial / "params.json").read_text())
    print(f"  {trial.name}: node {last.get('node_id', '?')[:8]} gpus {last.get('sys/gpu_ids', '?')} "
          f"precision {params.get('trainer.precision', 'fp32')} eval/accuracy {last.get('eval/accuracy', float('nan')):.4f} "
          f"peak {last.get('eval/peak_memory_mb', float('nan')):.0f} MB, {last.get('time_total_s', 0):.1f} s")
EOF
  echo "  GPU memory in use after the sweep (trials released theirs):"
  nvidia-smi --query-gpu=index,memory.used --format=csv,noheader | sed 's/^/    /'
}

echo "== 1. whole-GPU trials"
"$HPO" sweep "${COMMON[@]}" resources=gpu resources.gpus_per_trial=1 sweep.num_trials=2 sweep.output_dir="$OUT/whole" | tail -5
where "$OUT/whole"

echo "== 2. fractional GPUs: 4 trials on one GPU at once"
"$HPO" sweep "${COMMON[@]}" resources=gpu resources.gpus_per_trial=0.25 resources.cpus_per_trial=1 sweep.num_trials=4 \
  searcher.max_concurrent=4 sweep.output_dir="$OUT/fractional" | tail -5
where "$OUT/fractional"

echo "== 3. bf16 and fp16 trials"
"$HPO" sweep "${COMMON[@]}" resources=gpu resources.gpus_per_trial=0.5 sweep.num_trials=2 searcher=grid \
  '~search_space.trainer' '+search_space.trainer.precision={type: grid, values: [bf16, fp16]}' sweep.output_dir="$OUT/precision" | tail -5
where "$OUT/precision"

if [ "$gpus" -ge 2 ]; then
  echo "== 4. a 2-worker data-parallel trial (DDP, NCCL)"
  "$HPO" sweep "${COMMON[@]}" resources=gpu resources.gpus_per_trial=1 resources.workers_per_trial=2 sweep.num_trials=1 \
    sweep.output_dir="$OUT/ddp" | tail -5
  where "$OUT/ddp"
else
  echo "== 4. skipped: one GPU visible (data-parallel trials need 2)"
fi
echo "== done $(date -Is)"
