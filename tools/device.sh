#!/usr/bin/env bash
# One call on a lent GPU machine (16 cores, one GPU), as the closing notes of issues 9 and 13
# record it. Usage, from the repository root, with the MovieLens archives copied to .devdata/:
#   bash tools/device.sh bench SECONDS   # GPU tests, `invlearn bench --device cuda`, then a study
#   bash tools/device.sh study SECONDS   # resume the study for the time left
# STUDY (default regime-ml1m) names the folder under book/results/. Everything comes back in
# $OUT: the bench's text and JSON, the study's folder as a tarball and the logs. The study is
# resumable: unpack the tarball over book/results/ and call again.
set -u
export PYTHONUNBUFFERED=1 INVLEARN_DATA="$PWD/.devdata"
phase=$1 total=$2 study=${STUDY:-regime-ml1m} start=$SECONDS
out=${OUT:-/tmp/out}; mkdir -p "$out"
{ nvidia-smi -L; lscpu | grep -E "Model name|^CPU\(s\)"; python3 -c "import torch; print('torch', torch.__version__)"; } | tee "$out/machine.txt"
if [ "$phase" = bench ]; then
  # one test file at a time, stopping at the first failure, the whole log kept: a CUDA error in one
  # test (a broken graph capture, a device-side assert) poisons every later CUDA call
  for f in tests/unit/test_gpu.py tests/unit/test_static.py; do
    python3 -m pytest -x -v -o addopts="" -p no:cacheprovider "$f" > "$out/$(basename "$f" .py).log" 2>&1
    tail -5 "$out/$(basename "$f" .py).log"
  done
  python3 -m invlearn bench --device cuda --epochs 2 --quiet --out "$out/cuda_h100.json" 2>&1 | grep -v InvlearnWarning | tee "$out/cuda_h100.txt"
fi
left=$(( total - (SECONDS - start) - 20 ))
if [ "$left" -gt 30 ]; then
  echo "study $study: $left s"
  # the grid runs in a process group of its own (setsid: its id is the group's id), so that
  # afterwards exactly it and its workers are ended, whatever their names, and nothing else
  setsid timeout "$left" python3 -m invlearn grid --spec "book/results/$study/spec.json" --out "book/results/$study" --jobs 16 --engine python --quiet > "$out/grid.log" 2>&1 &
  grid=$!
  wait "$grid"
  echo "grid exit $?"
  kill -9 -- "-$grid" 2>/dev/null; sleep 1
  tail -c 3000 "$out/grid.log" | grep -v InvlearnWarning | tail -8
  tar czf "$out/$study.tgz" --exclude="*.tmp" "book/results/$study"
  echo "records: $(find "book/results/$study" -name '*.json' -path '*runs*' | wc -l)"
fi
echo "call took $(( SECONDS - start )) s"
