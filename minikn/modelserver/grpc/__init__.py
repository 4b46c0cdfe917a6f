"""KServe's ``inference.GRPCInferenceService`` on the built-in model server.

``grpc_predict_v2.proto`` is KServe's (Apache-2.0); the ``*_pb2*`` modules are generated from it
by ``make grpc-proto`` (``scripts/gen-grpc.sh``) and committed. ``codec`` converts tensors,
``servicer`` answers the RPCs from the ``DataPlane`` and maps errors to status codes, ``server``
serves them over HTTP/2 with minikn's own framer (``minikn.wire.h2server``) beside the REST app
on the same event loop, and ``client`` is the transformer's ``grpc.aio`` channel to its
predictor. Serving needs ``protobuf`` (not ``grpcio``); the client and the ``*_pb2_grpc`` stubs
need ``grpcio``. The model server imports this package only when ``--grpc_port`` is given.
"""
