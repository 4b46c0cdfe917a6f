#!/bin/sh
# Regenerate the model server's gRPC modules from KServe's proto (make grpc-proto).
#
# The generated module registers its file in a private descriptor pool, not protobuf's default
# one: KServe's proto reuses Triton's names (package "inference"), so tritonclient's
# grpc_service_pb2 in the same process (a custom model or transformer calling Triton) would
# otherwise fail with "duplicate symbol 'inference.ServerLiveRequest'".
set -eu
PYTHON=${PYTHON:-.venv/bin/python}
DIR=minikn/modelserver/grpc
"$PYTHON" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
  "$DIR/grpc_predict_v2.proto"
"$PYTHON" - "$DIR/grpc_predict_v2_pb2.py" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
old = "_descriptor_pool.Default().AddSerializedFile("
assert old in text, "protoc output changed: no default-pool registration to replace"
text = text.replace(old, "_POOL.AddSerializedFile(")
text = text.replace(
    "_sym_db = _symbol_database.Default()",
    "_sym_db = _symbol_database.Default()\n"
    "# minikn: a private pool, see scripts/gen-grpc.sh.\n"
    "_POOL = _descriptor_pool.DescriptorPool()",
)
open(path, "w").write(text)
PY
