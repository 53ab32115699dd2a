"""Differential tests: the same random commands, from two clients each, sent to Shoal and to a real
redis-server; every reply must be the same (bytes, or order-insensitive where Redis's order is unspecified).
The harness and the command families live in Tests/differential (run.py there runs any family by hand). Where
Shoal differs on purpose, docs/COMPATIBILITY.md says so, and such commands are not drawn."""
import os
import random
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "differential"))
from harness import REDIS_SERVER, RawClient, free_port, normalized, parse, run, wait_for_port  # noqa: E402,F401
from families import (FAMILIES, random_collection_command, random_command, random_geo_command,  # noqa: E402,F401
                      random_sort_command)


@pytest.fixture
def redis_server(tmp_path):
    assert REDIS_SERVER, "redis-server is installed by scripts/test.sh"
    port = free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    yield port
    proc.terminate()
    proc.wait(timeout=20)


# Fixed seeds: a failure replays (python3 Tests/differential/run.py --family NAME --seed N).
SEEDS = {"strings": range(1, 9), "collections": range(1, int(os.environ.get("SHOAL_DIFF_SEEDS", "5")))}
CASES = [(name, setup, seed) for name, family in FAMILIES.items() for setup in range(len(family.setups))
         for seed in SEEDS.get(name, range(1, 4))]


@pytest.mark.parametrize("name,setup,seed", CASES, ids=[f"{n}-{s}-seed{seed}" for n, s, seed in CASES])
def test_family_matches_redis(shoal, redis_server, name, setup, seed):
    family = FAMILIES[name]
    assert run(shoal.port, redis_server, family.generate, seed, steps=family.steps,
               setup=family.setups[setup]) == family.steps


def test_every_family_with_a_random_seed(shoal, redis_server):
    """A new seed each run, printed, for a bounded time per family: new ground each CI run."""
    seed = int(os.environ.get("SHOAL_DIFF_RANDOM_SEED", random.randrange(1 << 32)))
    print(f"differential random seed {seed} (replay: SHOAL_DIFF_RANDOM_SEED={seed})")
    compared = 0
    for name, family in FAMILIES.items():
        for setup in family.setups:
            compared += run(shoal.port, redis_server, family.generate, seed, steps=5000,
                            seconds=float(os.environ.get("SHOAL_DIFF_SECONDS", "4")), setup=setup)
    assert compared > 0


def test_the_command_table_in_compatibility_md_is_current():
    """docs/COMPATIBILITY.md's command-by-command table is what scripts/compat-table.py makes of both servers now."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    from conftest import BINARY
    generated = subprocess.run([sys.executable, os.path.join(root, "scripts", "compat-table.py"), "--shoal", BINARY],
                               capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    document = open(os.path.join(root, "docs", "COMPATIBILITY.md")).read()
    assert generated in document, "rerun: python3 scripts/compat-table.py --write"
