"""MCP over stdio with the pipes read and written on the event loop, not through worker threads.

The SDK's stdio transport reads each request line and writes and flushes each answer through a worker
thread: three hand-offs per call, about a fifth of a millisecond on a small machine, more than the
indexed query behind most tools. When stdin and stdout are pipes or sockets, as an MCP client starts
its server, csdesk reads and writes them on the event loop instead. A file or a terminal cannot be
watched by the event loop, and keeps the SDK's way.

As the SDK does while it serves, file descriptor 0 then reads the null device and 1 writes to stderr,
so a stray print or a child process cannot corrupt the wire; both are restored afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from mcp.server import MCPServer
from mcp.server.stdio import stdio_server

logger = logging.getLogger(__name__)

# The longest request line read whole. A longer one is skipped and reported; MCP requests are far smaller.
MAX_LINE_BYTES = 64 * 1024 * 1024


async def run_stdio(server: MCPServer) -> None:
    """Serve `server` over stdin and stdout until stdin closes."""
    async with pipe_streams() as streams:
        stdin, stdout = streams or (None, None)
        # The SDK reads and writes its stdin and stdout arguments only through the calls PipeLines and
        # PipeWriter answer.
        async with stdio_server(stdin, stdout) as (read_stream, write_stream):
            # What MCPServer.run_stdio_async does, with these streams: the SDK offers no other way to pass them.
            lowlevel = server._lowlevel_server
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


class PipeLines:
    """Request lines from the stdin pipe, as the SDK's transport reads them from a text file."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> PipeLines:
        return self

    async def __anext__(self) -> str:
        while True:
            try:
                line = await self._reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as end:
                if not end.partial:
                    raise StopAsyncIteration from None
                line = end.partial  # the last line, without its newline
            except asyncio.LimitOverrunError:
                await self._skip_line()
                continue
            return line.decode("utf-8", errors="replace")

    async def _skip_line(self) -> None:
        skipped = 0
        while True:
            try:
                skipped += len(await self._reader.readuntil(b"\n"))
                break
            except asyncio.LimitOverrunError as overrun:
                skipped += len(await self._reader.readexactly(overrun.consumed))
            except asyncio.IncompleteReadError as end:
                skipped += len(end.partial)
                break
        logger.error("skipped a request line of %d bytes: longer than %d", skipped, MAX_LINE_BYTES)


class PipeWriter:
    """The stdout pipe, with the write and flush the SDK's transport calls."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()


def is_pipe(fd: int) -> bool:
    """Whether `fd` is a pipe or a socket: what the event loop can watch without changing a terminal.
    Only on POSIX systems: Windows' event loop reads no descriptors but its own sockets."""
    if os.name != "posix":
        return False
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@asynccontextmanager
async def pipe_streams() -> AsyncIterator[tuple[PipeLines, PipeWriter] | None]:
    """stdin and stdout as event-loop streams while the block runs, or None when either is not a pipe."""
    if not (is_pipe(0) and is_pipe(1)):
        yield None
        return
    loop = asyncio.get_running_loop()
    saved = {0: os.dup(0), 1: os.dup(1)}
    transports: list[asyncio.BaseTransport] = []
    try:
        wire_in, wire_out = os.fdopen(os.dup(0), "rb", buffering=0), os.fdopen(os.dup(1), "wb", buffering=0)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
        reader = asyncio.StreamReader(limit=MAX_LINE_BYTES)
        reader_transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), wire_in)
        transports.append(reader_transport)
        writer_transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.streams.FlowControlMixin(loop=loop), wire_out)
        transports.append(writer_transport)
        # A flush returns once the answer is in the pipe, as the SDK's does, not merely queued.
        writer_transport.set_write_buffer_limits(high=0)
        yield PipeLines(reader), PipeWriter(asyncio.StreamWriter(writer_transport, protocol, None, loop))
    finally:
        for transport in transports:
            transport.close()
        for fd, duplicate in saved.items():
            with suppress(OSError):
                os.dup2(duplicate, fd)
                # The event loop made the pipes non-blocking; whoever reads or writes them next expects not.
                os.set_blocking(fd, True)
            os.close(duplicate)
