"""A stand-in for fotoauthd that misbehaves on purpose, for the failure cases the real daemon
cannot be made to show: an answer that never comes, bytes that are not a message, a socket owned
by the wrong account, or a status the real daemon would only send when something broke.

    python3 fake_listener.py SOCKET silent        accepts connections and never answers
    python3 fake_listener.py SOCKET HEX [HEX...]  answers the n-th connection with the n-th
                                                  datagram (the last one repeats)

With --record FILE before SOCKET, every request received is appended to FILE as one line of hex,
so that a test can check what the module sent, and the count of connections accepted so far is
written to FILE.connections. With --keep-open before SOCKET, a connection is not closed after one
answer: each request on it gets the next datagram, as the real daemon serves several requests
on one connection. Prints "ready" on stdout once it listens. Runs until killed. The test starts
it as root or, to get a socket owned by someone else, as a test user.
"""
import socket
import sys


def main():
    arguments = sys.argv[1:]
    record = None
    keep_open = False
    while arguments[0].startswith("--"):
        if arguments[0] == "--record":
            record, arguments = arguments[1], arguments[2:]
        elif arguments[0] == "--keep-open":
            keep_open, arguments = True, arguments[1:]
        else:
            sys.exit(f"unknown option {arguments[0]}")
    path, mode = arguments[0], arguments[1:]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)

    held = []
    answers = [] if mode == ["silent"] else [bytes.fromhex(text) for text in mode]
    served = 0
    accepted = 0
    while True:
        connection, _ = listener.accept()
        accepted += 1
        if record:
            with open(record + ".connections", "w") as count:
                count.write(f"{accepted}\n")
        if not answers:
            held.append(connection)  # kept open and unread until the process is killed
            continue
        try:
            while True:
                received = connection.recv(8192)
                if not received:
                    break
                if record:
                    with open(record, "a") as log:
                        log.write(received.hex() + "\n")
                connection.send(answers[min(served, len(answers) - 1)])
                served += 1
                if not keep_open:
                    break
        finally:
            connection.close()


if __name__ == "__main__":
    main()
