"""Prefect's temporary API server, run so that it ends with the qcat process that started it.

qcat starts that server in a process group of its own (flows/runner.py), out of reach of a
terminal's Ctrl-C; so a qcat killed outright (SIGKILL, or Ctrl-\\ to the group) could no longer take
it along, and it would run on, holding the caller's output open. Here it watches its parent and
stops itself, the way uvicorn stops on SIGTERM, once that parent is gone.

    python -m flows.prefect_server PARENT_PID UVICORN_ARGS...
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time


def _stop_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    threading.Thread(target=_stop_when_orphaned, args=(int(sys.argv[1]),), daemon=True).start()
    sys.argv = ["uvicorn", *sys.argv[2:]]
    from uvicorn.main import main

    main()
