"""tinykv command-line client: get and set keys over a unix socket."""
import socket
import sys


def request(path, line):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        return s.recv(65536).decode()


if __name__ == "__main__":
    print(request(sys.argv[1], " ".join(sys.argv[2:])))
