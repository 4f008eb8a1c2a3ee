import socket

from tests.system.stack import _ephemeral_ports, free_port


def test_free_port_is_never_one_an_outgoing_connection_could_take() -> None:
    ephemeral = _ephemeral_ports()
    ports = {free_port() for _ in range(50)}

    assert not ports & set(ephemeral)
    for port in ports:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
