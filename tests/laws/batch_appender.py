"""Child process for test_concurrency_law.py: append batches with optimistic concurrency.

    python batch_appender.py FILE WRITER BATCHES SEED STREAMS SYNCED

Prints `hello <package dir>`, then for each of BATCHES batches (1-5 events, to one of the
STREAMS streams named `law-0`, `law-1`, ..., chosen by a random generator seeded with SEED)
reads the stream's version and appends with it as the expected version, retrying on
ConcurrencyError. The first SYNCED batches all go to `law-0` in lock-step with the other
writers: the child reads the version, prints `ready`, and appends only after reading a line
on stdin, so the writers are certain to conflict. After each append returns it prints

    OK writer batch seq stream version count retries

and `done` at the end.
"""

from __future__ import annotations

import os
import random
import sys

import tlo_embed
from tlo_embed import Event


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    path, writer, batches, seed, streams, synced = sys.argv[1:7]
    rng = random.Random(int(seed))
    say(f"hello {os.path.dirname(os.path.realpath(tlo_embed.__file__))}")
    with tlo_embed.open(path) as db:
        for b in range(int(batches)):
            lock_step = b < int(synced)
            stream = "law-0" if lock_step else f"law-{rng.randrange(int(streams))}"
            size = rng.randint(1, 5)
            batch = [
                Event("Batched", {"writer": int(writer), "batch": b, "i": i, "size": size})
                for i in range(size)
            ]
            retries = 0
            while True:
                version = db.stream_version(stream)
                if lock_step and retries == 0:
                    say("ready")
                    sys.stdin.readline()
                try:
                    r = db.append(stream, batch, expected_version=version)
                except tlo_embed.ConcurrencyError:
                    retries += 1
                    continue
                break
            say(f"OK {writer} {b} {r.seq} {r.stream} {r.version} {r.count} {retries}")
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
