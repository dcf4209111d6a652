#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0. See LICENSE in the repository root.
"""A small UDF worker on gRPC core (Debian's python3-grpcio), for the engine's tests.

It serves the UdfWorker service of proto/ with grpc's generic handler API: the message modules are
generated from proto/ by protoc at start-up, no service stubs are needed. See README.md.
"""

import argparse
import asyncio
import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
import zlib

import grpc

SERVICE = "org.apache.spark.udf.worker.UdfWorker"
PROTOCOL_VERSION = 1
SETTLE_TIMEOUT_S = 5  # a cancelling Shutdown waits this long for the streams to settle
STOP_GRACE_S = 2  # SIGTERM: in-flight calls get this long before they are cancelled
PARENT_POLL_S = 0.5  # how often the worker checks that its parent still runs

pb = None  # the generated udf_message_pb2 module, loaded by load_messages()
common = None  # the generated common_pb2 module (the enums)


def load_messages(proto_root):
    """Generates the Python message modules from proto/ with protoc and imports them."""
    global pb, common
    protoc = shutil.which("protoc")
    if protoc is None:
        sys.exit("worker: protoc is not on PATH (Debian package protobuf-compiler)")
    out = tempfile.mkdtemp(prefix="udf-worker-pb-")
    files = [f"org/apache/spark/udf/worker/{name}.proto" for name in ("common", "udf_message")]
    try:
        subprocess.run([protoc, f"--proto_path={proto_root}", f"--python_out={out}", *files], check=True)
        sys.path.insert(0, out)
        pb = importlib.import_module("org.apache.spark.udf.worker.udf_message_pb2")
        common = importlib.import_module("org.apache.spark.udf.worker.common_pb2")
    finally:
        if out in sys.path:
            sys.path.remove(out)
        shutil.rmtree(out, ignore_errors=True)  # imported modules no longer need their files


# ---- UDFs: Init.udf.format -> a class built from the assembled payload --------------------------


class Echo:
    """Every input batch comes back unchanged, one output per input."""

    def __init__(self, payload):
        self.batches = 0

    def process(self, batch):
        self.batches += 1
        return [batch]

    def finish(self):
        return f"echoed {self.batches} batches".encode()


class Sink(Echo):
    """Consumes its input and produces no output."""

    def process(self, batch):
        self.batches += 1
        return []

    def finish(self):
        return f"consumed {self.batches} batches".encode()


class Raise(Echo):
    """Raises ValueError(<payload text>) on the first input batch: a user error."""

    def __init__(self, payload):
        super().__init__(payload)
        self.message = payload.decode()

    def process(self, batch):
        raise ValueError(self.message)


class Big(Echo):
    """Answers every input batch with one output of <payload> bytes (a decimal count)."""

    def __init__(self, payload):
        super().__init__(payload)
        self.output = bytes(i % 251 for i in range(int(payload.decode())))

    def process(self, batch):
        self.batches += 1
        return [self.output]


class HoldFinish(Echo):
    """Echo, but Finish is answered only after <payload> seconds, or by CancelResponse if Cancel comes first."""

    def __init__(self, payload):
        super().__init__(payload)
        self.hold_finish_s = float(payload.decode())


class Abort(Echo):
    """Ends the call with gRPC status INTERNAL: at Init when the payload is "init", else on the first batch."""


UDFS = {"echo": Echo, "sink": Sink, "raise": Raise, "big": Big, "hold-finish": HoldFinish, "abort": Abort}


# ---- one Execute stream (PROTOCOL.md, rules of one Execute stream) -----------------------------

EOF = object()  # the engine half-closed, or the stream broke (rule 10: same as Cancel)
SHUTDOWN = object()  # Manage Shutdown with cancel_sessions = true


class ShuttingDown(Exception):
    pass


def kind(request):
    """The branch a UdfRequest carries: init, payload, finish, cancel, data, eof or empty."""
    if request is EOF:
        return "eof"
    if request.WhichOneof("request") == "data":
        return "data"
    if request.WhichOneof("request") == "control":
        return request.control.WhichOneof("control") or "empty"
    return "empty"


def protocol_error(message):
    return pb.ExecutionError(protocol=pb.ProtocolError(message=message))


class ExecuteStream:
    def __init__(self, worker, context):
        self.worker = worker
        self.context = context
        self.events = asyncio.Queue()
        self.udf = None
        self.error_sent = False
        self.settled = asyncio.Event()  # FinishResponse or CancelResponse sent, or the call ended
        self.ended = asyncio.Event()  # the call is over
        self.metrics = {"bytes_in": 0, "bytes_out": 0, "batches_in": 0, "batches_out": 0}

    async def run(self):
        reader = asyncio.create_task(self.read_requests())
        try:
            try:
                await self.serve()
            except ShuttingDown:
                if not self.error_sent:
                    await self.send_error(pb.ExecutionError(worker=pb.WorkerError(message="the worker is shutting down")))
                await self.send_control(cancel=pb.CancelResponse(metrics=self.execution_metrics()))
            # Rule 9: the engine half-closes once it has the terminator (a Cancel may still follow
            # Finish); the call ends with status OK after that.
            while (await self.events.get()) is not EOF:
                pass
        finally:
            reader.cancel()
            self.settled.set()
            self.ended.set()

    async def read_requests(self):
        try:
            while (request := await self.context.read()) is not grpc.aio.EOF:
                await self.events.put(request)
        except Exception:  # the call broke: the worker treats it as Cancel
            pass
        await self.events.put(EOF)

    async def next(self, timeout=None):
        event = await asyncio.wait_for(self.events.get(), timeout)
        if event is SHUTDOWN:
            raise ShuttingDown()
        return event

    async def send(self, response):
        await self.context.write(response)

    async def send_control(self, **branch):
        await self.send(pb.UdfResponse(control=pb.UdfControlResponse(**branch)))
        if "finish" in branch or "cancel" in branch:
            self.settled.set()

    async def send_error(self, error):
        self.error_sent = True
        await self.send_control(error=pb.ErrorResponse(error=error))

    async def send_data(self, batch):
        self.metrics["batches_out"] += 1
        self.metrics["bytes_out"] += len(batch)
        await self.send(pb.UdfResponse(data=pb.DataResponse(data=batch)))

    def execution_metrics(self):
        return pb.ExecutionMetrics(**self.metrics)

    async def serve(self):
        # Rule 1: Init first; Cancel may come before it, or during the payload chunks.
        request = await self.next()
        if kind(request) in ("cancel", "eof"):
            return await self.cancelled(request)
        if kind(request) != "init":
            await self.send_error(protocol_error(f"the first message must be Init, got {kind(request)}"))
            return await self.wait_for_cancel()
        init = request.control.init
        payload = bytearray(init.udf.payload)
        if init.is_chunking_payload:
            while True:  # rule 2
                request = await self.next()
                if kind(request) in ("cancel", "eof"):
                    return await self.cancelled(request)
                if kind(request) != "payload" or not request.control.payload.data:
                    return await self.init_failed(protocol_error(f"expected a non-empty PayloadChunk, got {kind(request)}"))
                payload += request.control.payload.data
                if request.control.payload.last:
                    break
        payload = bytes(payload)
        error = self.check_init(init, payload)
        if error is not None:
            return await self.init_failed(error)
        if isinstance(self.udf, Abort) and payload == b"init":
            await self.context.abort(grpc.StatusCode.INTERNAL, "abort: at init")
        await self.send_control(init=pb.InitResponse())

        while True:  # the data phase
            request = await self.next()
            if kind(request) == "data":
                batch = request.data.data
                self.metrics["batches_in"] += 1
                self.metrics["bytes_in"] += len(batch)
                if isinstance(self.udf, Abort):
                    await self.context.abort(grpc.StatusCode.INTERNAL, "abort: on the first batch")
                try:
                    outputs = self.udf.process(batch)
                except Exception as e:
                    user = pb.UserError(message=str(e), error_class=type(e).__name__, traceback=traceback.format_exc())
                    await self.send_error(pb.ExecutionError(user=user))
                    return await self.wait_for_cancel()
                for output in outputs:
                    await self.send_data(output)
            elif kind(request) == "finish":
                return await self.finish()
            elif kind(request) in ("cancel", "eof"):
                return await self.cancelled(request)
            else:
                await self.send_error(protocol_error(f"{kind(request)} is not allowed in the data phase"))
                return await self.wait_for_cancel()

    def check_init(self, init, payload):
        """None when the Init is acceptable, else the error for InitResponse.error."""
        if init.HasField("protocol_version") and init.protocol_version != PROTOCOL_VERSION:
            return protocol_error(f"protocol version {init.protocol_version} is not supported; this worker speaks {PROTOCOL_VERSION}")
        if init.data_format != common.ARROW:
            return protocol_error(f"data format {init.data_format} is not supported; this worker speaks ARROW (1)")
        udf = init.udf
        if udf.HasField("payload_size") and udf.payload_size != len(payload):
            return protocol_error(f"the payload has {len(payload)} bytes, payload_size says {udf.payload_size}")
        if udf.HasField("payload_crc32") and udf.payload_crc32 != zlib.crc32(payload):
            return protocol_error(f"the payload's CRC-32 is {zlib.crc32(payload)}, payload_crc32 says {udf.payload_crc32}")
        if udf.format not in UDFS:
            return pb.ExecutionError(worker=pb.WorkerError(message=f"unknown payload format '{udf.format}'; known: {', '.join(UDFS)}"))
        try:
            self.udf = UDFS[udf.format](payload)
        except Exception as e:
            return pb.ExecutionError(user=pb.UserError(message=str(e), error_class=type(e).__name__, traceback=traceback.format_exc()))
        return None

    async def init_failed(self, error):
        await self.send_control(init=pb.InitResponse(error=error))
        await self.wait_for_cancel()

    async def wait_for_cancel(self):
        """Rule 6 after an error: the engine must send Cancel; the terminator is CancelResponse."""
        while kind(request := await self.next()) not in ("cancel", "eof"):
            pass  # Finish or data after an error: ignored
        await self.cancelled(request)

    async def cancelled(self, request):
        if request is EOF:
            await self.events.put(EOF)  # nobody to answer; run() sees the end
        else:
            await self.send_control(cancel=pb.CancelResponse(metrics=self.execution_metrics()))

    async def finish(self):
        hold = getattr(self.udf, "hold_finish_s", None)
        if hold is not None:
            # Finish, then Cancel: CancelResponse while the FinishResponse is not sent (rule 6).
            loop = asyncio.get_running_loop()
            deadline = loop.time() + hold
            self.worker.holding_finish += 1
            try:
                while kind(request := await self.next(timeout=max(0, deadline - loop.time()))) not in ("cancel", "eof"):
                    pass
                return await self.cancelled(request)
            except asyncio.TimeoutError:
                pass
            finally:
                self.worker.holding_finish -= 1
        response = pb.FinishResponse(metrics=self.execution_metrics(), data=self.udf.finish())
        await self.send_control(finish=response)


# ---- the worker: Execute, Manage, listening and stopping -----------------------------------------


class Worker:
    def __init__(self, worker_id):
        self.id = worker_id
        self.streams = set()
        self.sessions_total = 0
        self.holding_finish = 0
        self.accepting = True
        self.stop = asyncio.Event()
        self.stopping = None  # the task that stops the server once a Shutdown's streams ended

    async def execute(self, request_iterator, context):
        if not self.accepting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the worker is shutting down")
        stream = ExecuteStream(self, context)
        self.streams.add(stream)
        self.sessions_total += 1
        try:
            await stream.run()
        finally:
            self.streams.discard(stream)

    async def manage(self, request, context):
        which = request.WhichOneof("manage")
        if which == "heartbeat":
            return pb.WorkerResponse(heartbeat=pb.HeartbeatResponse(metrics=self.heartbeat_metrics()))
        if which == "shutdown":
            settled = await self.shutdown(request.shutdown.cancel_sessions)
            return pb.WorkerResponse(shutdown=pb.ShutdownResponse(sessions_settled=settled))
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a WorkerRequest with no branch set")

    def heartbeat_metrics(self):
        return {
            "worker_id": self.id,
            "pid": str(os.getpid()),
            "grpc_version": grpc.__version__,
            "active_sessions": str(len(self.streams)),
            "sessions_total": str(self.sessions_total),
            "holding_finish": str(self.holding_finish),
        }

    async def shutdown(self, cancel_sessions):
        """No new streams; with cancel_sessions the live ones are cancelled at once, else they complete
        normally. The process exits once they ended and the answer went out."""
        self.accepting = False
        live = list(self.streams)
        if cancel_sessions:
            for stream in live:
                stream.events.put_nowait(SHUTDOWN)
            try:
                await asyncio.wait_for(wait_all(s.settled for s in live), SETTLE_TIMEOUT_S)
            except asyncio.TimeoutError:
                pass
        self.stopping = asyncio.create_task(self.stop_after(live))
        return all(s.settled.is_set() for s in live)

    async def stop_after(self, streams):
        await wait_all(s.ended for s in streams)
        self.stop.set()


async def wait_all(events):
    await asyncio.gather(*(event.wait() for event in events))


def listen(server, connection):
    """All digits: a TCP port on 127.0.0.1 and [::1] (when the machine has IPv6); else a Unix socket path."""
    if connection.isdigit():
        addresses = [f"127.0.0.1:{connection}", f"[::1]:{connection}"]
    else:
        addresses = [f"unix:{os.path.abspath(connection)}"]
    bound = 0
    for address in addresses:
        try:
            bound += 1 if server.add_insecure_port(address) else 0
        except RuntimeError as e:
            print(f"worker: cannot listen on {address}: {e}", file=sys.stderr)
    if bound == 0:
        sys.exit(f"worker: cannot listen on {connection}")


def server_option(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=VALUE")
    return (name, int(value) if value.lstrip("-").isdigit() else value)


async def serve(args):
    worker = Worker(args.id)
    server = grpc.aio.server(options=args.option)
    handlers = {
        "Execute": grpc.stream_stream_rpc_method_handler(
            worker.execute, request_deserializer=pb.UdfRequest.FromString, response_serializer=pb.UdfResponse.SerializeToString),
        "Manage": grpc.unary_unary_rpc_method_handler(
            worker.manage, request_deserializer=pb.WorkerRequest.FromString, response_serializer=pb.WorkerResponse.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    listen(server, args.connection)
    await server.start()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop.set)
    watch = asyncio.create_task(watch_parent(args.parent, worker.stop))
    print(f"ready id={args.id} connection={args.connection} pid={os.getpid()} grpc={grpc.__version__}", flush=True)
    await worker.stop.wait()
    watch.cancel()
    await server.stop(STOP_GRACE_S)


async def watch_parent(parent, stop):
    """Stops the worker when the process that started it dies: it is then re-parented (to init or a
    subreaper) and getppid() changes. An engine's parent-death signal reaches only its direct child,
    not a worker started through a wrapper, so the worker watches for itself."""
    while True:
        await asyncio.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            print(f"worker: the parent process {parent} died (now {os.getppid()}); stopping", file=sys.stderr, flush=True)
            stop.set()
            return


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parent = os.getppid()
    # No abbreviations: a later engine's flag must not be taken for a prefix of one of ours.
    parser = argparse.ArgumentParser(description="A UDF worker on gRPC core, for tests.", allow_abbrev=False)
    parser.add_argument("--id", required=True, help="the worker id; reported by the heartbeat")
    parser.add_argument("--connection", required=True, help="a Unix socket path, or a TCP port (all digits)")
    parser.add_argument("--option", type=server_option, action="append", default=[], metavar="NAME=VALUE",
                        help="a gRPC server channel argument, e.g. grpc.http2.max_ping_strikes=1 (repeatable)")
    parser.add_argument("--proto-root", default=os.path.join(here, "..", "..", "..", "proto"), help="the proto/ directory")
    # Flags it does not know are ignored with a warning: a later engine may pass more than --id and
    # --connection. A known flag with a bad value is still an error.
    args, unknown = parser.parse_known_args()
    if unknown:
        print(f"worker: ignoring unknown arguments: {' '.join(unknown)}", file=sys.stderr, flush=True)
    args.parent = parent
    load_messages(args.proto_root)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
