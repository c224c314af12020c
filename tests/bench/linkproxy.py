#!/usr/bin/env python3
"""A TCP proxy that behaves like a slow, distant link, for make bench's
network profile where the kernel has no netem: every byte is delayed by half
the round trip in each direction and the link carries at most RATE bits per
second, shared by all connections. Flow control is kept: a connection's
reader stops while more than a window of its bytes are on the wire, so a
sender sees the bottleneck instead of filling the proxy's memory.

usage: linkproxy.py LISTEN_PORT TARGET_HOST TARGET_PORT RTT_MS RATE_MBIT PORT_FILE
"""
import asyncio
import sys


class Link:
    """One direction of the link: serialisation at `rate`, then `delay`."""

    def __init__(self, rate_bps, delay_s):
        self.byte_time = 8.0 / rate_bps
        self.delay = delay_s
        self.free_at = 0.0

    def arrival(self, now, n):
        start = max(now, self.free_at)
        self.free_at = start + n * self.byte_time
        return self.free_at + self.delay


async def pump(reader, writer, link, window):
    loop = asyncio.get_running_loop()
    in_flight = 0
    room = asyncio.Event()
    room.set()
    closed = False

    def deliver(data):
        nonlocal in_flight
        in_flight -= len(data)
        if not closed and not writer.is_closing():
            writer.write(data)
        if in_flight <= window:
            room.set()

    try:
        while True:
            await room.wait()
            data = await reader.read(65536)
            if not data:
                break
            in_flight += len(data)
            if in_flight > window:
                room.clear()
            loop.call_at(link.arrival(loop.time(), len(data)), deliver, data)
        # the end travels like the data: after the last byte
        await asyncio.sleep(max(0.0, link.free_at + link.delay - loop.time()) + 0.001)
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        closed = True


async def main():
    listen, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    rtt, rate = float(sys.argv[4]) / 1000.0, float(sys.argv[5]) * 1e6
    down, up = Link(rate, rtt / 2), Link(rate, rtt / 2)
    window = max(int(rate / 8 * rtt * 2), 1 << 20)

    async def handle(cr, cw):
        try:
            await asyncio.sleep(rtt)   # the TCP handshake's round trip
            ur, uw = await asyncio.open_connection(host, port)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pump(cr, uw, up, window), pump(ur, cw, down, window),
                             return_exceptions=True)
        for w in (uw, cw):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    with open(sys.argv[6], "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


asyncio.run(main())
