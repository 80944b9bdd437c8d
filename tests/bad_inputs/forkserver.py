"""Runs `cmtl` commands for the bad-input corpus, each in its own process forked from one warm parent.

Starting python and importing prefect, torch and mlflow takes 5-10 s; the corpus has dozens of cases.
This parent imports the CLI once (starting no threads), then forks one child per command; the child
runs the real entry point `flows.cli:main` with its stdout and stderr sent to files, and its exit code
is reported back. Request (one JSON line on stdin): {"batch": [{"args": [...], "stdout": path,
"stderr": path}, ...], "parallel": n}. Reply (one JSON line): {"rc": [exit code per command]}.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import traceback

import flows.cli
import flows.pipeline  # noqa: F401  (warm: every flow module and its imports)


def _child(request: dict) -> int:
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, fd)
        os.close(out)
    sys.argv = ["cmtl", *request["args"]]
    try:
        flows.cli.main()
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - what the console script would show: a traceback, exit 1
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _run(batch: list[dict], parallel: int) -> list[int]:
    codes: list[int | None] = [None] * len(batch)
    running: dict[int, int] = {}  # pid -> index in batch
    todo = list(range(len(batch)))
    while todo or running:
        while todo and len(running) < parallel:
            i = todo.pop(0)
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                os._exit(_child(batch[i]))
            running[pid] = i
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    return codes


def main() -> None:
    # forking is only safe while this process is single-threaded
    assert threading.active_count() == 1, [t.name for t in threading.enumerate()]
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps({"rc": _run(request["batch"], request.get("parallel", 1))}), flush=True)


if __name__ == "__main__":
    main()
