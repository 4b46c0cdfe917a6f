"""Run with KServe's own Python (its package in a virtualenv of its own): calls an ISVC through
minikn's ingress with ``kserve.InferenceGRPCClient``, as KServe's docs show, the ISVC's host as
``:authority``; prints what it got as one JSON line.

    python kserve_grpc_client.py <ingress host:port> <ISVC host> <model name>
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceGRPCClient, InferInput, InferRequest


async def main(address: str, host: str, model: str) -> None:
    rows = np.array([[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]], dtype=np.float32)
    tensor = InferInput(name="input-0", shape=list(rows.shape), datatype="FP32")
    tensor.set_data_from_numpy(rows)
    request = InferRequest(model_name=model, infer_inputs=[tensor])
    client = InferenceGRPCClient(
        address, channel_args=[("grpc.default_authority", host)], timeout=120
    )
    async with client:
        response = await client.infer(request)  # the first call: the revision may be at zero
        out = {
            "predictions": response.outputs[0].as_numpy().tolist(),
            "server_ready": await client.is_server_ready(),
            "model_ready": await client.is_model_ready(model),
        }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
