"""``make run``: the API on embedded defaults, no cloud account needed.

Starts an S3-compatible endpoint on loopback (moto's server, standing in for R2, so stream URLs open in
a browser and honour Range requests), then ``chalice local`` on the ``local`` stage, whose settings
point the job store at a SQLite file and object storage at that endpoint. Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="API port")
    parser.add_argument("--s3-port", type=int, default=9000, help="local S3 endpoint port")
    args = parser.parse_args(argv)

    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=args.s3_port, verbose=False)
    s3.start()
    print(f"local S3 endpoint (R2 stand-in): http://127.0.0.1:{args.s3_port}", flush=True)
    (ROOT / ".data").mkdir(exist_ok=True)
    env = {**os.environ, "R2_ENDPOINT_URL": f"http://127.0.0.1:{args.s3_port}"}
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice), "local", "--stage", "local", "--host", args.host]
    try:
        return subprocess.call([*command, "--port", str(args.port)], cwd=ROOT, env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        s3.stop()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
