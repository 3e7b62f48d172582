"""resp.py - the smallest RESP2 client over a unix socket, for tests and
benchmarks that drive a private redis-server directly (the scheduler's Lua
without swarmd): send a command, read its reply.

Replies: simple strings and bulk strings as str, integers as int, arrays as
lists, nil as None, and an error reply as a RedisError (a str) returned by
call() - for tests that expect an error - or raised by must().
"""
import socket


class RedisError(str):
    pass


class Redis:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.buf = b""

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill(len(self.buf) + 1)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            self._fill(n + 2)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError("bad reply %r" % line)

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return self._reply()

    def must(self, *args):
        """call(), raising RuntimeError on an error reply."""
        rep = self.call(*args)
        if isinstance(rep, RedisError):
            raise RuntimeError("%s: %s" % (args[0], rep))
        return rep
