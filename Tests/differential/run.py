#!/usr/bin/env python3
"""Drives redis-server and Shoal with the same random commands of one family (or all) and compares replies.

    python3 Tests/differential/run.py                      # every family, a random seed (printed), 60 s each
    python3 Tests/differential/run.py --family bitmap --seed 7 --steps 5000
    python3 Tests/differential/run.py --list

A difference prints the seed and the last commands, and the exit status is 1: rerun with that seed to replay."""
import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from families import FAMILIES  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", action="append", help="a family name (repeatable); default: all")
    parser.add_argument("--seed", type=int, help="default: random, printed")
    parser.add_argument("--steps", type=int, help="commands per family and setup (default: the family's own)")
    parser.add_argument("--seconds", type=float, default=60, help="time bound per family and setup")
    parser.add_argument("--shoal", default=harness.default_binary(), help="shoal-server binary")
    parser.add_argument("--list", action="store_true", help="list the families and exit")
    options = parser.parse_args()
    if options.list:
        for name, family in FAMILIES.items():
            print(f"{name}: {(family.generate.__doc__ or '').strip().splitlines()[0] if family.generate.__doc__ else ''}")
        return 0
    names = options.family or list(FAMILIES)
    unknown = [name for name in names if name not in FAMILIES]
    if unknown:
        parser.error(f"unknown family {', '.join(unknown)} (try --list)")
    seed = options.seed if options.seed is not None else random.randrange(1 << 32)
    print(f"seed {seed}", flush=True)
    redis, shoal = harness.start_redis(), harness.start_shoal(options.shoal)
    failed = False
    try:
        for name in names:
            family = FAMILIES[name]
            for number, setup in enumerate(family.setups):
                try:
                    compared = harness.run(shoal.port, redis.port, family.generate, seed,
                                           steps=options.steps or family.steps, seconds=options.seconds, setup=setup)
                    print(f"{name} (setup {number}): {compared} commands, no difference", flush=True)
                except harness.Mismatch as mismatch:
                    failed = True
                    print(f"{name} (setup {number}): DIFFERENCE\n{mismatch}", flush=True)
    finally:
        redis.stop()
        shoal.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
