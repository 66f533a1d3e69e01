"""Ports the dev stack hands its servers: outside the kernel's ephemeral range, never twice."""

import socket

import pytest

from simmesh.devstack import process
from simmesh.devstack.process import bindable, ephemeral_ports, free_port
from simmesh.devstack.s3 import S3Server


def test_free_ports_lie_below_the_ephemeral_range_and_are_never_repeated():
    low, _high = ephemeral_ports()
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(port < low for port in ports)
    assert all(bindable(port) for port in ports[:20])


def test_a_port_a_server_listens_on_is_not_bindable():
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert not bindable(port)
    assert bindable(port)


def test_free_port_stays_below_a_given_bound():
    assert all(free_port(below=20000) < 20000 for _ in range(100))


def test_a_bound_no_free_port_meets_is_an_error_not_a_hang():
    if ephemeral_ports()[0] <= 10001:
        pytest.skip("the kernel's ephemeral range reaches below 10001 here")
    with pytest.raises(RuntimeError, match=r"no free TCP port on 127\.0\.0\.1 below 10001"):
        free_port(below=10001)


def test_the_port_paired_with_one_handed_out_is_never_handed_out_itself(monkeypatch):
    port = free_port(below=20000, paired=10000)
    assert bindable(port + 10000)
    spare = free_port(below=20000)  # handed out, so no draw below returns it
    # after the three refused draws, fresh ports (any of them may be in use on a busy machine)
    fresh = range(port + 10001, port + 10101)
    draws = iter([port + 10000, port, spare, *fresh])
    monkeypatch.setattr(process._random, "randrange", lambda low, high: next(draws))
    assert free_port() in fresh


def test_s3_ports_and_the_ones_seaweedfs_derives_from_them_avoid_the_ephemeral_range(tmp_path):
    server = S3Server(tmp_path / "s3", tmp_path / "logs")
    low, _high = ephemeral_ports()
    assert len(set(server.ports.values())) == len(server.ports)
    assert max(server.ports.values()) < low
    assert server.ports["admin_grpc"] == server.ports["admin"] + 10000
