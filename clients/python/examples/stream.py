#!/usr/bin/env python3
"""Streams one completion from hobbitd to stdout, then prints the final statistics.

    build/bin/hobbitd --model tests/fixtures/hf_tiny/mixtral/model-f32.gguf &
    python3 clients/python/examples/stream.py --server 127.0.0.1:50051 "Once upon a time"
"""
import argparse
import sys

import grpc

from hobbit_client import HobbitClient
from hobbit_client.proto import hobbit_pb2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompt")
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()

    with HobbitClient(args.server) as client:
        try:
            for response in client.generate(args.prompt, max_tokens=args.max_tokens,
                                            temperature=args.temperature, seed=args.seed):
                if response.HasField("chunk"):
                    print(response.chunk.text, end="", flush=True)
                else:
                    final = response.final
                    print()
                    print(f"[{hobbit_pb2.FinishReason.Name(final.finish_reason)} "
                          f"prompt_tokens={final.prompt_tokens} "
                          f"generated_tokens={final.generated_tokens} "
                          f"ttft={final.timings.time_to_first_token_seconds:.3f}s "
                          f"total={final.timings.total_seconds:.3f}s]", file=sys.stderr)
        except grpc.RpcError as error:
            print(f"stream.py: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
