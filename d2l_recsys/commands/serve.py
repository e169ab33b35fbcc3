"""Serve a saved run or an export over HTTP (FastAPI on uvicorn):
GET /health, POST /recommend {"user": U, "k": 10}, POST /predict
{"pairs": [[U, I], ...]}.  Prints `serving http://HOST:PORT` once it
answers; Ctrl-C or SIGTERM stops it and all its workers."""
import inspect
import os
import signal
import socket
import threading
import time
import urllib.request

from .. import cli
from ..parse import positive_int
from . import restart_with

APP = 'd2l_recsys.serving.app:create_app'


class _Stop(Exception):
    """SIGTERM outside uvicorn's own handling (loading, or re-raised by
    uvicorn after its graceful shutdown)."""


def _on_sigterm(signum, frame):
    raise _Stop()


def _listen(host, port):
    """The server socket, bound here (a port in use fails with one line).

    uvicorn's own ``--workers`` socket leaves ``proto`` at 0, and asyncio
    then never sets TCP_NODELAY on the connections it accepts: every
    keep-alive request after the first waits ~40 ms for a delayed ACK
    (uvicorn issue #3149).  Asking for IPPROTO_TCP fixes that.
    """
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f'cannot listen on {host}:{port}: {e.strerror}') \
            from None
    sock.set_inheritable(True)
    return sock


def _announce(url, health, ready, stop):
    """Poll ``health`` until it answers, then print the URL once."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while not stop.is_set():
        try:
            with direct.open(health, timeout=1) as r:
                if r.status == 200:
                    print(f'serving {url}', flush=True)
                    ready.set()
                    return
        except OSError:
            pass
        time.sleep(0.1)


def main(argv=None, prog=None):
    # Requests are small: one thread per process for MXNet's OpenMP and
    # BLAS (idle OpenMP threads spin, doubling the CPU spent per request);
    # scale with --workers.  It must be set before MXNet loads; set
    # OMP_NUM_THREADS to override.
    restart_with({'OMP_NUM_THREADS': '1'}, argv)
    p = cli.Parser(prog=prog, description=__doc__)
    p.add_argument('--model-dir', required=True,
                   help='run folder of a training script, or an export')
    p.add_argument('--data-dir', help='MovieLens folder, if not the one the '
                   'run recorded (run folders only)')
    p.add_argument('--host', default='127.0.0.1', help='address to listen '
                   'on')
    p.add_argument('--port', type=positive_int, default=8000,
                   help='port to listen on')
    p.add_argument('--workers', type=positive_int, default=1,
                   help='server processes, each with its own copy of the '
                   'model (inference is serialised within a process)')
    p.add_argument('--access-log', action='store_true',
                   help="log every request (uvicorn's access log)")
    p.add_argument('--log-level', default='warning',
                   choices=['critical', 'error', 'warning', 'info', 'debug'],
                   help="uvicorn's log level (info: worker starts and "
                   'stops)')
    args = p.parse_args(argv)
    if args.port > 65535:
        p.error(f'argument --port: {args.port} is not a TCP port (1-65535)')
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        import uvicorn
        from uvicorn.supervisors import Multiprocess

        from ..serving import load_predictor
        from ..serving.app import (DATA_DIR_ENV, MODEL_DIR_ENV,
                                            create_app)
    except ImportError as e:
        return cli.fail(p.prog, f'{e}; install the serve extra: pip install '
                        '"d2l_recsys[serve]"')
    try:
        sock = _listen(args.host, args.port)
        predictor = load_predictor(args.model_dir, args.data_dir)
    except (ValueError, OSError) as e:
        return cli.fail(p.prog, e)
    except _Stop:
        return 0
    local = '127.0.0.1' if args.host in ('0.0.0.0', '::', '') else args.host
    url = f'http://{args.host}:{args.port}'
    ready, stop = threading.Event(), threading.Event()
    threading.Thread(target=_announce, daemon=True, args=(
        url, f'http://{local}:{args.port}/health', ready, stop)).start()
    options = dict(host=args.host, port=args.port, log_level=args.log_level,
                   access_log=args.access_log)
    try:
        if args.workers == 1:
            uvicorn.Server(uvicorn.Config(create_app(predictor), **options)) \
                .run(sockets=[sock])
        else:
            del predictor           # each worker loads its own
            os.environ[MODEL_DIR_ENV] = os.path.abspath(args.model_dir)
            if args.data_dir:
                os.environ[DATA_DIR_ENV] = os.path.abspath(args.data_dir)
            if 'timeout_worker_healthcheck' in \
                    inspect.signature(uvicorn.Config).parameters:
                # A worker answers uvicorn's pings only once MXNet has
                # loaded; the default 5 s kills slow starters on a busy
                # machine (recent uvicorn versions let us wait longer).
                options['timeout_worker_healthcheck'] = 60
            config = uvicorn.Config(APP, factory=True, workers=args.workers,
                                    **options)
            Multiprocess(config, sockets=[sock]).run()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        stop.set()
        sock.close()
    if not ready.is_set():
        return cli.fail(p.prog, f'the service did not start on {url}')
    return 0

