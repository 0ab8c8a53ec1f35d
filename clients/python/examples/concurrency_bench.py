#!/usr/bin/env python3
"""Aggregate decode throughput and time to first token of hobbitd with N concurrent streams.

    python3 clients/python/examples/concurrency_bench.py --server 127.0.0.1:50051 --streams 1 4 16

Each stream asks for --max-tokens tokens with ignore_eos (so every stream generates the same
number), greedy, from its own prompt. Reports, per concurrency level: aggregate generated
tokens/s over the wall time of the whole batch, and the median and worst time to first token
as the client sees it. Needs the stubs: python3 clients/python/generate_stubs.py.
"""
import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hobbit_client import HobbitClient  # noqa: E402


def one_stream(client, prompt, max_tokens, out, index):
    start = time.perf_counter()
    first = None
    tokens = 0
    for response in client.generate(prompt, max_tokens=max_tokens, temperature=0.0, ignore_eos=True):
        if response.HasField("chunk") and response.chunk.token_ids:
            if first is None:
                first = time.perf_counter() - start
            tokens += len(response.chunk.token_ids)
    out[index] = (first, tokens)


def run_level(client, streams, max_tokens):
    results = [None] * streams
    threads = [threading.Thread(target=one_stream,
                                args=(client, f"def function_{i}(x, y):", max_tokens, results, i))
               for i in range(streams)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ttfts = [r[0] for r in results]
    total = sum(r[1] for r in results)
    return total / wall, statistics.median(ttfts), max(ttfts), total, wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3, help="runs per level; the median is reported")
    args = parser.parse_args()
    with HobbitClient(args.server) as client:
        client.wait_ready()
        run_level(client, 1, 8)  # warm-up
        print("| streams | aggregate tokens/s | TTFT median (ms) | TTFT worst (ms) |")
        print("|---|---|---|---|")
        for n in args.streams:
            runs = sorted((run_level(client, n, args.max_tokens) for _ in range(args.repeat)), key=lambda r: r[0])
            tps, ttft_med, ttft_max, _, _ = runs[len(runs) // 2]
            print(f"| {n} | {tps:.0f} | {ttft_med * 1000:.1f} | {ttft_max * 1000:.1f} |")


if __name__ == "__main__":
    main()
