#!/bin/bash
cd "$(dirname "$0")/../.." && . .venv/bin/activate  # the repository root
export HF_HUB_OFFLINE=1
set -ex
models=(runs/rank-v12-seed16/final runs/rank-v12-seed17/final runs/rank-v12-seed18/final runs/passages-v12-seed16/final runs/passages-v12-seed17/final runs/passages-v12-seed18/final runs/lowlr-v12-seed19/final runs/lowlr-v12-seed20/final)
rm -rf runs/soup8-work-*
cp -r ${models[0]} runs/soup8-work-1
for k in 2 3 4 5 6 7 8; do
  open-ada interpolate runs/soup8-work-$((k-1)) ${models[$((k-1))]} --alpha $(python -c "print(1/$k)") --output runs/soup8-work-$k
done
rm -rf runs/soup8 && mv runs/soup8-work-8 runs/soup8 && rm -rf runs/soup8-work-*
m=runs/soup8
open-ada evaluate $m --suites stsb retrieval ood --output $m/eval.json
open-ada compare results/eval.json $m/eval.json --output $m/compare-v12.md
date
echo SOUP8-DONE
