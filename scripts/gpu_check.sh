#!/usr/bin/env bash
# The GPU path, checked on a machine with one NVIDIA GPU and no network, in 5 minutes at most:
#   1. the machine (GPU, driver, PyTorch's CUDA, ONNX Runtime's providers and builds);
#   2. with onnxruntime-gpu: a small NAS-Bench-201 table on cuda:0, fitted to 30 whole networks,
#      a 1-epoch search on the GPU under a latency budget that binds, measured on cuda:0, and the
#      searched network exported and measured on cuda:0;
#   3. the PyTorch half alone: a partial-channel DARTS search epoch on the GPU (latency from the
#      shipped CPU table);
#   4. the GPU tests (tests/test_gpu.py).
# What cannot run (no GPU, no onnxruntime-gpu) is said and skipped; each step has its own time limit
# (120 s, 60 s, 120 s).
#
#   bash scripts/gpu_check.sh [OUT]        # OUT: where tables and runs go (default: a temporary folder)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*"; }

say "machine"
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader 2>/dev/null \
  || echo "nvidia-smi: not found"
"$PY" - <<'EOF'
import torch, onnxruntime as ort
from hwnas.device.agent.host import describe_host, host_facts, onnxruntime_builds
print(f"host: {describe_host(host_facts())}")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, GPUs seen by PyTorch: {torch.cuda.device_count()}")
print(f"onnxruntime {ort.__version__}: {', '.join(ort.get_available_providers())}; builds {onnxruntime_builds()}")
EOF

has_torch_cuda=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
has_ort_cuda=$("$PY" -c "import onnxruntime as o; print(int('CUDAExecutionProvider' in o.get_available_providers()))" \
  2>/dev/null || echo 0)

say "ONNX Runtime on cuda:0: table, budgeted search, export"
if [ "$has_ort_cuda" = 1 ] && [ "$has_torch_cuda" = 1 ]; then
  timeout 120 "$PY" - "$OUT" <<'EOF'
import sys, time
from hwnas import api
out = sys.argv[1]
network = dict(input_size=8, in_channels=1, init_channels=8, layers=1)
started = time.perf_counter()
made = api.profile("nb201", "cuda:0", tables_dir=f"{out}/tables", validate=30, say=print, **network)
held = made.validation["calibrated_heldout"] if made.validation else None
from hwnas.profile.build import FLOOR_MS
rows = made.table.rows
floor = int(((rows["repeats"] > 0) & (rows["latency_ms"] <= FLOOR_MS)).sum())
print(f"table: {len(rows)} rows ({floor} timed pieces at the floor: no time beyond the baseline), "
      f"{time.perf_counter() - started:.0f} s; held-out {held}")
low, high = made.table.costs().range()
budget = low + 0.25 * (high - low)
found = api.search("nb201", latency_budget=budget, epochs=1, limit=500, device="cuda:0", torch_device="cuda",
                   tables_dir=f"{out}/tables", runs_dir=f"{out}/runs", name="gpu", say=print, final_init_channels=8,
                   final_layers=1)
print(f"search: {found.genotype.arch}; {found.measured.describe() if found.measured else found.measure_note}")
done = api.export(found.genotype, f"{out}/gpu.onnx", device="cuda:0", measure=True, tables_dir=f"{out}/tables",
                  **network)
print(f"export: {done.measured.describe()}")
EOF
  echo "exit status $?"
else
  echo "skipped: needs PyTorch with CUDA and onnxruntime-gpu (CUDAExecutionProvider); this machine has" \
       "torch CUDA=$has_torch_cuda, onnxruntime CUDA=$has_ort_cuda"
fi

say "PyTorch on the GPU: a partial-channel DARTS search epoch"
if [ "$has_torch_cuda" = 1 ]; then
  started=$SECONDS
  timeout 60 "$PY" -m hwnas search --space darts --partial-channels 4 --epochs 1 --limit 1024 --batch-size 64 \
    --torch-device cuda --no-measure --runs-dir "$OUT/runs" --name pc-darts
  echo "exit status $?, $((SECONDS - started)) s"
else
  echo "skipped: PyTorch sees no CUDA device"
fi

say "GPU tests"
timeout 120 "$PY" -m pytest -q -rs tests/test_gpu.py
echo "exit status $?"
echo "outputs in $OUT"
