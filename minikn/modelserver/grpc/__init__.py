"""KServe's ``inference.GRPCInferenceService`` on the built-in model server.

``grpc_predict_v2.proto`` is KServe's (Apache-2.0); the ``*_pb2*`` modules are generated from it
by ``make grpc-proto`` (``scripts/gen-grpc.sh``) and committed. ``codec`` converts tensors,
``servicer`` answers the RPCs from the ``DataPlane`` and maps errors to status codes, ``server``
runs ``grpc.aio`` beside the REST app on the same event loop. Importing this package needs
``grpcio`` and ``protobuf``; the model server imports it only when ``--grpc_port`` is given.
"""
