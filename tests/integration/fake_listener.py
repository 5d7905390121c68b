"""A stand-in for fotoauthd that misbehaves on purpose, for the failure cases the real daemon
cannot be made to show: an answer that never comes, bytes that are not a message, a socket owned
by the wrong account, or a status the real daemon would only send when something broke.

    python3 fake_listener.py SOCKET silent        accepts connections and never answers
    python3 fake_listener.py SOCKET HEX [HEX...]  answers the n-th connection with the n-th
                                                  datagram (the last one repeats)

With --record FILE before SOCKET, every request received is appended to FILE as one line of hex,
so that a test can check what the module sent. Prints "ready" on stdout once it listens. Runs
until killed. The test starts it as root or, to
get a socket owned by someone else, as a test user.
"""
import socket
import sys


def main():
    arguments = sys.argv[1:]
    record = None
    if arguments[0] == "--record":
        record, arguments = arguments[1], arguments[2:]
    path, mode = arguments[0], arguments[1:]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)

    held = []
    answers = [] if mode == ["silent"] else [bytes.fromhex(text) for text in mode]
    served = 0
    while True:
        connection, _ = listener.accept()
        if not answers:
            held.append(connection)  # kept open and unread until the process is killed
            continue
        try:
            received = connection.recv(8192)
            if record:
                with open(record, "a") as log:
                    log.write(received.hex() + "\n")
            connection.send(answers[min(served, len(answers) - 1)])
        finally:
            connection.close()
        served += 1


if __name__ == "__main__":
    main()
