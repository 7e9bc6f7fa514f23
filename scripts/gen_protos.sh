#!/usr/bin/env bash
# Generates the Python code for proto/ into OUT (default: the client package's source root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/clients/python/src}
bin=$root/.venv/bin
mkdir -p "$out/automations/v1"
rm -f "$out"/automations/v1/*_pb2*.py "$out"/automations/v1/*_pb2*.pyi
"$bin/python" -m grpc_tools.protoc \
  -I "$root/proto" \
  --plugin=protoc-gen-mypy="$bin/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$bin/protoc-gen-mypy_grpc" \
  --python_out="$out" \
  --mypy_out=quiet:"$out" \
  --grpc_python_out="$out" \
  --mypy_grpc_out=quiet:"$out" \
  "$root"/proto/automations/v1/*.proto
cat > "$out/automations/v1/__init__.py" <<'PY'
"""Generated from proto/automations/v1 by `make gen`. Do not edit."""
PY
