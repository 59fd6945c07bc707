"""``make run``: the API on embedded defaults, no cloud account needed.

Starts an S3-compatible endpoint on loopback (moto's server, standing in for R2, so stream URLs open in
a browser and honour Range requests), then ``chalice local`` on the ``local`` stage, whose settings
point the job store at a SQLite file and object storage at that endpoint. Ctrl-C stops both.

``--job-store d1-local`` (``make run JOB_STORE=d1-local``) puts the job store on real D1 semantics
instead: the D1 gateway Worker under miniflare (Cloudflare's workerd and its D1, from npm), its data
kept in .data/d1-local, reached by the production D1 executor over HTTP (stage ``local-d1``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

from moto.server import ThreadedMotoServer

from scripts.local_gateway import LocalGateway

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="API port")
    parser.add_argument("--s3-port", type=int, default=9000, help="local S3 endpoint port")
    parser.add_argument(
        "--job-store",
        choices=["sqlite", "d1-local"],
        default="sqlite",
        help="sqlite (default): a local file; d1-local: the D1 gateway Worker on miniflare",
    )
    args = parser.parse_args(argv)

    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=args.s3_port, verbose=False)
    s3.start()
    print(f"local S3 endpoint (R2 stand-in): http://127.0.0.1:{args.s3_port}", flush=True)
    (ROOT / ".data").mkdir(exist_ok=True)
    env = {**os.environ, "R2_ENDPOINT_URL": f"http://127.0.0.1:{args.s3_port}"}
    stage, gateway = "local", None
    if args.job_store == "d1-local":
        token = secrets.token_urlsafe(32)
        gateway = LocalGateway(token, persist=ROOT / ".data" / "d1-local").start()
        env.update({"CF_API_BASE_URL": gateway.base_url, "CF_API_TOKEN": token})
        stage = "local-d1"
        print(f"job store: D1 gateway Worker on miniflare at {gateway.url}", flush=True)
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice), "local", "--stage", stage, "--host", args.host]
    try:
        return subprocess.call([*command, "--port", str(args.port)], cwd=ROOT, env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        s3.stop()
        if gateway is not None:
            gateway.stop()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
