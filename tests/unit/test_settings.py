"""Typed config of the edge agent and of the cloud: file, environment, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cloud.config import ConfigFileError as CloudFileError
from cloud.config import load_settings
from edge.box import missing_pipeline
from edge.config import ConfigFileError, load_config


def test_edge_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "edge.toml"
    path.write_text('[device]\nid = "box-7"\nkind = "fire"\n[mqtt]\nhost = "a"\nport = 1884\n')
    monkeypatch.setenv("TIANSHAN_EDGE__MQTT__PORT", "2883")
    config = load_config(path)
    assert config.device.id == "box-7"
    assert config.device.kind == "fire"
    assert config.mqtt.host == "a"
    assert config.mqtt.port == 2883
    assert config.telemetry.max_readings == 500  # the model's default


def test_edge_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text('[device]\nid = "has space"\n[mqtt]\nprot = 1\n')
    with pytest.raises(ValidationError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "device.id" in text
    assert "mqtt.prot" in text


def test_edge_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[device\n")
    with pytest.raises(ConfigFileError, match="not valid TOML"):
        load_config(bad)


def test_edge_tls_cert_needs_key() -> None:
    with pytest.raises(ValidationError, match=r"cert_file and tls\.key_file"):
        load_config(None, device={"id": "b"}, mqtt={"tls": {"cert_file": "/c.pem"}})


def test_cloud_refuses_default_secrets_in_production() -> None:
    with pytest.raises(ValidationError, match="well-known default"):
        load_settings(None, environment="production", influx={"password": "changeme"})
    demo = load_settings(None, environment="demo", influx={"password": "changeme"})
    assert demo.influx.password is not None


def test_cloud_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cloud.toml"
    path.write_text('[influx]\nurl = "http://influx:8086"\ndatabase = "site1"\n')
    monkeypatch.setenv("TIANSHAN_CLOUD__INFLUX__DATABASE", "site2")
    settings = load_settings(path)
    assert settings.influx.url == "http://influx:8086"
    assert settings.influx.database == "site2"
    with pytest.raises(CloudFileError):
        load_settings(tmp_path / "missing.toml")


def test_the_example_agent_config_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "docs" / "edge-agent.example.toml"
    config = load_config(example)
    assert config.device.kind == "checkout"
    assert config.mqtt.tls is not None
    assert config.mqtt.tls.ca_file == Path("/etc/tianshan/ca.pem")
    assert config.outbox.quota_bytes == 256 * 1024 * 1024
    # A checkout box's example runs the checkout: its section is there, with a price table.
    assert config.checkout is not None
    assert config.checkout.prices_file == Path("/etc/tianshan/prices.toml")
    assert missing_pipeline(config) is None


def test_a_box_whose_kind_names_a_pipeline_it_lacks_is_told_so(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    for kind in ("checkout", "fire", "parking"):
        path.write_text(f'[device]\nid = "box-1"\nkind = "{kind}"\nsite = "s"\n')
        message = missing_pipeline(load_config(path))
        assert message is not None
        assert f"no [{kind}] section" in message
    path.write_text('[device]\nid = "box-1"\nkind = "generic"\nsite = "s"\n')
    assert missing_pipeline(load_config(path)) is None
