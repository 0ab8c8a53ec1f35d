"""hobbit_client: a thin Python client for hobbitd (package hobbit.v1 over gRPC).

    from hobbit_client import HobbitClient

    with HobbitClient("127.0.0.1:50051") as client:
        for text in client.stream_text("Once upon a time", max_tokens=64):
            print(text, end="", flush=True)

The generated stubs are in hobbit_client.proto (hobbit_pb2, hobbit_pb2_grpc).
"""
from hobbit_client.client import Completion, HobbitClient

__all__ = ["Completion", "HobbitClient"]
