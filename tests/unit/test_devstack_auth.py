"""The local mesh says at start who may call it, and with API keys keeps its secrets in the data directory."""

from __future__ import annotations

import stat

from simmesh.devstack.auth import api_key_env, auth_line


def test_the_mesh_says_auth_is_off_unless_asked(tmp_path):
    assert "auth: OFF" in auth_line(tmp_path, "", api_keys=False)
    assert "static bearer token" in auth_line(tmp_path, "s3cret", api_keys=False)
    line = auth_line(tmp_path, "", api_keys=True)
    assert "API keys" in line and str(tmp_path / "bootstrap.key") in line


def test_api_keys_get_secrets_made_once_per_data_directory_and_readable_by_the_owner_only(tmp_path):
    env = api_key_env(tmp_path)
    assert env["SIMMESH_API_KEYS"] == "etcd" and len(env["SIMMESH_INTERNAL_TOKEN"]) >= 32
    assert api_key_env(tmp_path) == env
    for name in ("internal.token", "bootstrap.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert (tmp_path / "bootstrap.key").read_text() not in str(env)
