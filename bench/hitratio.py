#!/usr/bin/env python3
"""Cache hit ratio of Shoal and redis-server under the same skewed workload and the same maxmemory.

The workload is the classic cache loop: GET a key drawn from a Zipf-like distribution; on a miss, SET it.
Both servers get the same maxmemory and policy, and the same sequence of keys (a fixed seed). The hit
ratio is keyspace_hits / (keyspace_hits + keyspace_misses) from INFO stats.

    bench/hitratio.py --shoal-port 6379 --redis-port 6380 [--requests 300000] [--keys 200000]

Run by bench/hitratio.sh, which starts both servers.
"""
import argparse
import bisect
import random

import redis


def zipf_sampler(n, s, rng):
    weights = [1.0 / (i ** s) for i in range(1, n + 1)]
    total = sum(weights)
    cumulative = []
    running = 0.0
    for w in weights:
        running += w / total
        cumulative.append(running)
    # A random permutation so popularity is not correlated with key names (or shards).
    order = list(range(n))
    rng.shuffle(order)

    def sample():
        return order[min(bisect.bisect_left(cumulative, rng.random()), n - 1)]

    return sample


def run(port, policy, maxmemory, requests, keys, skew, value_size, seed):
    r = redis.Redis(port=port)
    r.flushall()
    r.config_set("maxmemory", maxmemory)
    r.config_set("maxmemory-policy", policy)
    r.config_resetstat()
    rng = random.Random(seed)
    sample = zipf_sampler(keys, skew, rng)
    value = b"v" * value_size
    pipe_size = 100
    done = 0
    while done < requests:
        batch = [f"item:{sample()}" for _ in range(min(pipe_size, requests - done))]
        with r.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.get(key)
            results = pipe.execute()
        misses = [key for key, got in zip(batch, results) if got is None]
        if misses:
            with r.pipeline(transaction=False) as pipe:
                for key in misses:
                    pipe.set(key, value)
                pipe.execute()
        done += len(batch)
    stats = r.info("stats")
    memory = r.info("memory")
    hits, misses = stats["keyspace_hits"], stats["keyspace_misses"]
    return {
        "hit_ratio": hits / max(1, hits + misses),
        "keys": r.dbsize(),
        "evicted": stats["evicted_keys"],
        "used_memory": memory["used_memory"],
        "rss": memory["used_memory_rss"],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shoal-port", type=int, required=True)
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--requests", type=int, default=300_000)
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--skew", type=float, default=1.0)
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--maxmemory", default="8mb")
    parser.add_argument("--policies", default="allkeys-lru,allkeys-lfu")
    args = parser.parse_args()
    print(f"workload: {args.requests} GET-or-SET requests, Zipf s={args.skew} over {args.keys} keys, "
          f"{args.value_size}-byte values, maxmemory {args.maxmemory}")
    print("| policy | server | hit ratio | keys held | evicted | used_memory | rss |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for policy in args.policies.split(","):
        for name, port in (("shoal", args.shoal_port), ("redis", args.redis_port)):
            result = run(port, policy, args.maxmemory, args.requests, args.keys, args.skew, args.value_size, seed=42)
            print(f"| {policy} | {name} | {result['hit_ratio']:.4f} | {result['keys']} | {result['evicted']} | "
                  f"{result['used_memory']} | {result['rss']} |", flush=True)


if __name__ == "__main__":
    main()
