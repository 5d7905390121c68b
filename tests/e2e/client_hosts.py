"""Client hosts with addresses of their own, so that sshd and the daemon see distinct sources.

A network namespace made for the test holds the clients: a veth pair joins it to the host, the
host side gets SERVER_ADDRESS/32, the namespace side one /32 address per client from
198.51.100.0/24 (a documentation range), and a /32 route each way is all the routing there is.
The namespace has no other link and no default route, so its traffic can only reach the host
side of the pair, and nothing else on the host is routed into it. A client runs
`ip netns exec NAMESPACE ssh -o BindAddress=ADDRESS ...`; sshd then sees ADDRESS as PAM_RHOST.

The namespace is named fsmfa-<pid of the test process>-<random>, and its pair of links
fsmfa-<random>h (host side) and fsmfa-<random>n (namespace side). Deleting the namespace
destroys the pair with it, and the pid in the name lets a later run remove what a test process
that died without cleaning up left behind, while a run that is still going on is left alone.
"""
import random
import re
import secrets
import subprocess
from dataclasses import dataclass

from support.users import process_exists

IP = "/usr/sbin/ip"
PREFIX = "fsmfa-"
STALE_NAMESPACE = re.compile(rf"^{PREFIX}(\d+)-([0-9a-f]+)$")
SERVER_ADDRESS = "203.0.113.1"
CLIENT_NETWORK = "198.51.100."
# .0 is the network and .255 the broadcast address of the /24 the clients come from.
CLIENT_HOST_NUMBERS = range(1, 255)
SETUP_ATTEMPTS = 3
COMMAND_TIMEOUT = 20


class NetworkSetupFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class ClientHost:
    """One client address inside a namespace; wraps a command so that it runs from there."""
    namespace: str
    address: str

    def command(self, program, arguments):
        return [IP, "netns", "exec", self.namespace, program, *arguments]


def ip(*arguments, check=True):
    result = subprocess.run([IP, *arguments], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT)
    if check and result.returncode != 0:
        raise NetworkSetupFailed(f"ip {' '.join(arguments)} failed: {result.stderr.strip()}")
    return result


def namespaces():
    # Lines look like "NAME" or "NAME (id: 3)".
    return [line.split()[0] for line in ip("netns", "list").stdout.splitlines() if line.strip()]


def host_link(token):
    return f"{PREFIX}{token}h"


def namespace_link(token):
    return f"{PREFIX}{token}n"


def remove_network(namespace, token):
    """Removes the pair of links and the namespace; what is already gone is no error."""
    ip("link", "delete", host_link(token), check=False)
    ip("netns", "delete", namespace, check=False)


def remove_stale_networks():
    """Removes the namespaces of earlier test processes that died before their clean-up ran."""
    for namespace in namespaces():
        match = STALE_NAMESPACE.match(namespace)
        if match and not process_exists(int(match.group(1))):
            remove_network(namespace, match.group(2))


def routed_client_addresses():
    """The client addresses that routes on the host already lead to (another run's clients)."""
    routes = ip("-4", "route", "show", "table", "all").stdout
    return set(re.findall(rf"\b{re.escape(CLIENT_NETWORK)}\d+\b", routes))


class ClientNetwork:
    """A namespace with `count` client addresses. Use as a context manager, or call start() and
    close() (close() is safe to call twice and after a failed start).

    The addresses are picked at random from the whole client network, unless pools is given: a
    list of `count` lists of host numbers (the last byte of the address), and then client i gets
    a free address of pool i. A test whose clients must come from given parts of the network
    (such as the two halves that a test GeoIP database maps to two countries) says so that way.
    """

    def __init__(self, count, pid, pools=None):
        if pools is not None and len(pools) != count:
            raise ValueError(f"{count} clients need {count} pools, not {len(pools)}")
        self.count = count
        self.pid = pid
        self.pools = pools
        self.namespace = None
        self.token = None
        self.clients = []

    @property
    def server_address(self):
        return SERVER_ADDRESS

    def start(self):
        remove_stale_networks()
        errors = []
        # Another test run may pick the same client addresses at the same moment; its routes
        # then make ours fail with "File exists", and other addresses are tried.
        for _ in range(SETUP_ATTEMPTS):
            try:
                self._create()
                return self
            except NetworkSetupFailed as error:
                errors.append(str(error))
                self.close()
            except BaseException:
                self.close()
                raise
        raise NetworkSetupFailed("no client network after "
                                 f"{SETUP_ATTEMPTS} attempts:\n" + "\n".join(errors))

    def close(self):
        if self.namespace is not None:
            remove_network(self.namespace, self.token)
            self.namespace = None
            self.token = None
        self.clients = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _create(self):
        self.token = secrets.token_hex(4)
        self.namespace = f"{PREFIX}{self.pid}-{self.token}"
        host, inside = host_link(self.token), namespace_link(self.token)
        addresses = self._pick_addresses()

        ip("netns", "add", self.namespace)
        ip("link", "add", host, "type", "veth", "peer", "name", inside, "netns", self.namespace)
        ip("address", "add", f"{SERVER_ADDRESS}/32", "dev", host)
        ip("link", "set", host, "up")
        ip("-n", self.namespace, "link", "set", "lo", "up")
        ip("-n", self.namespace, "link", "set", inside, "up")
        for address in addresses:
            ip("-n", self.namespace, "address", "add", f"{address}/32", "dev", inside)
            ip("route", "add", f"{address}/32", "dev", host)
        ip("-n", self.namespace, "route", "add", f"{SERVER_ADDRESS}/32", "dev", inside)

        self.clients = [ClientHost(self.namespace, address) for address in addresses]

    def _pick_addresses(self):
        taken = routed_client_addresses()
        if self.pools is not None:
            return self._pick_from_pools(taken)
        free = [f"{CLIENT_NETWORK}{number}" for number in CLIENT_HOST_NUMBERS
                if f"{CLIENT_NETWORK}{number}" not in taken]
        if len(free) < self.count:
            raise NetworkSetupFailed(f"only {len(free)} client addresses are free, not "
                                     f"{self.count}: {len(taken)} are routed elsewhere")
        return random.sample(free, self.count)

    def _pick_from_pools(self, taken):
        picked = []
        for pool in self.pools:
            free = [f"{CLIENT_NETWORK}{number}" for number in pool
                    if number in CLIENT_HOST_NUMBERS
                    and f"{CLIENT_NETWORK}{number}" not in taken
                    and f"{CLIENT_NETWORK}{number}" not in picked]
            if not free:
                raise NetworkSetupFailed(f"no free client address in the pool {pool}: "
                                         f"{len(taken)} addresses are routed elsewhere")
            picked.append(random.choice(free))
        return picked
