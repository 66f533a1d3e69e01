"""Settings come from flags, then SIMMESH_* variables, then defaults."""

from __future__ import annotations

import dataclasses

import pytest

from simmesh.kit.settings import EtcdSettings, ServerSettings, load_settings


@dataclasses.dataclass(frozen=True)
class _Settings(ServerSettings, EtcdSettings):
    port: int = 50099
    verbose: bool = False


def test_flag_beats_environment_beats_default():
    env = {"SIMMESH_PORT": "6000", "SIMMESH_LOG_LEVEL": "DEBUG"}
    settings = load_settings(_Settings, ["--port", "7000"], env)
    assert settings.port == 7000
    assert settings.log_level == "DEBUG"
    assert settings.metrics_port == -1


def test_types_are_parsed():
    env = {"SIMMESH_ETCD_ENDPOINTS": "a:1, b:2", "SIMMESH_VERBOSE": "yes", "SIMMESH_SHUTDOWN_GRACE": "2.5"}
    settings = load_settings(_Settings, [], env)
    assert settings.etcd_endpoints == ("a:1", "b:2")
    assert settings.verbose is True
    assert settings.shutdown_grace == 2.5


def test_settings_are_frozen():
    settings = load_settings(_Settings, [], {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]


def test_a_bad_value_names_its_source(capsys):
    with pytest.raises(SystemExit) as caught:
        load_settings(_Settings, [], {"SIMMESH_PORT": "eighty"})
    assert "SIMMESH_PORT" in str(caught.value) and "eighty" in str(caught.value)


def test_routers_and_the_catalog_keep_done_operations_a_week_unless_told():
    from simmesh.catalog.settings import CatalogSettings
    from simmesh.indexer.settings import RouterSettings

    week = 7 * 24 * 3600.0
    assert load_settings(RouterSettings, [], {}).operation_ttl == week
    assert load_settings(CatalogSettings, [], {"SIMMESH_OPERATION_TTL": "3600"}).operation_ttl == 3600.0
