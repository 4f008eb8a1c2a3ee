import socket

from tests.system.stack import _ephemeral_ports, free_port, port_candidates


def test_free_port_is_never_one_an_outgoing_connection_could_take() -> None:
    ports = [free_port() for _ in range(50)]

    assert len(set(ports)) == len(ports)
    assert not set(ports) & set(_ephemeral_ports())
    for port in ports:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))


def test_the_candidates_leave_out_the_ephemeral_range_and_the_services_ports() -> None:
    candidates = set(port_candidates(range(32768, 61000)))

    assert {10000, 32767, 61000, 65535} <= candidates
    assert not candidates & {32768, 45000, 60999, 27017, 9092, 6379, 5432}


def test_an_ephemeral_range_over_every_port_leaves_no_candidate() -> None:
    assert port_candidates(range(1024, 65536)) == []
