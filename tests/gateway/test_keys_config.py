"""The accounting settings in the config, and the operators' commands (pixmux keys, spend, db)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from keys_support import PG_PASSWORD, database_url, postgres_server
from pixmux._cli import main as pixmux
from pixmux.proxy import ConfigError, load_config, parse_config

__all__ = ["database_url", "postgres_server"]

MODELS = [{"model_name": "img", "litellm_params": {"model": "openai/gpt-image-1", "api_key": "sk-up-1234"}}]


def config(**general: Any) -> dict[str, Any]:
    return {"model_list": MODELS, "general_settings": {"master_key": "sk-master-1", **general}}


def test_accounting_is_off_without_a_database() -> None:
    """No database_url, no DATABASE_URL, no virtual_keys: the gateway keeps its master key only."""
    assert parse_config(config(), path="c.yaml", environ={}).accounting is None


def test_database_url_turns_accounting_on_from_the_file_or_the_environment() -> None:
    """general_settings.database_url wins over DATABASE_URL, which is used when the file has none."""
    from_file = parse_config(config(database_url="postgresql://a@db1/x"), path="c.yaml", environ={})
    from_env = parse_config(config(), path="c.yaml", environ={"DATABASE_URL": "postgresql://a@db2/x"})

    assert from_file.accounting is not None
    assert from_env.accounting is not None
    assert from_file.accounting.host == "db1"
    assert from_env.accounting.host == "db2"


def test_virtual_keys_alone_use_sqlite_beside_the_config(tmp_path: Path) -> None:
    """virtual_keys: true without a URL is a SQLite file next to the config file."""
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config(virtual_keys=True)))

    settings = load_config(path, environ={}).accounting

    assert settings is not None
    assert f"sqlite:///{tmp_path / 'pixmux.db'}" == settings.database_url


def test_password_never_shows_in_the_settings_repr() -> None:
    """The settings' repr (and so any log of the config) hides the database password."""
    parsed = parse_config(config(database_url=f"postgresql://u:{PG_PASSWORD}@h/x"), path="c.yaml", environ={})

    assert PG_PASSWORD not in repr(parsed)
    assert PG_PASSWORD not in repr(parsed.accounting)


@pytest.mark.parametrize(
    ("general", "where"),
    [
        ({"database_url": "mysql://h/x"}, "general_settings.database_url"),
        ({"database_url": 5}, "general_settings.database_url"),
        ({"virtual_keys": "yes"}, "general_settings.virtual_keys"),
        ({"virtual_keys": True, "store_prompts": 1}, "general_settings.store_prompts"),
        ({"virtual_keys": True, "maximum_spend_logs_retention_period": "forever"}, "maximum_spend_logs_retention"),
        ({"virtual_keys": True, "proxy_batch_write_at": 0}, "general_settings.proxy_batch_write_at"),
        ({"virtual_keys": True, "master_key": None}, "general_settings.master_key"),
    ],
)
def test_wrong_accounting_settings_name_the_key(general: dict[str, Any], where: str) -> None:
    """Each wrong value stops the start with one ConfigError naming the setting."""
    raw = config(**general)
    if general.get("master_key", "") is None:
        del raw["general_settings"]["master_key"]

    with pytest.raises(ConfigError) as caught:
        parse_config(raw, path="c.yaml", environ={})

    assert where in str(caught.value)


def test_operators_create_list_and_revoke_keys(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """keys create prints the key alone on stdout; list shows names, never keys; revoke deletes by alias."""
    assert pixmux(["db", "upgrade", "--database-url", database_url]) == 0
    assert (
        pixmux(
            [
                "keys",
                "create",
                "--database-url",
                database_url,
                "--alias",
                "web",
                "--max-budget",
                "2.5",
                "--models",
                "img",
            ]
        )
        == 0
    )
    key = capsys.readouterr().out.strip()
    assert pixmux(["keys", "list", "--database-url", database_url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert pixmux(["keys", "revoke", "--database-url", database_url, "web"]) == 0
    capsys.readouterr()
    assert pixmux(["keys", "list", "--database-url", database_url, "--json"]) == 0
    after = json.loads(capsys.readouterr().out)

    assert key.startswith("sk-")
    assert [(k["key_alias"], k["max_budget"], k["models"]) for k in listed] == [("web", 2.5, ["img"])]
    assert key not in json.dumps(listed)
    assert after == []


def test_operators_spend_report_and_bad_options(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """spend prints the report; a bad value is one line naming it and exit status 2."""
    assert pixmux(["spend", "--database-url", database_url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    bad_budget = pixmux(["keys", "create", "--database-url", database_url, "--max-budget", "-1"])
    bad_group = pixmux(["spend", "--database-url", database_url, "--group-by", "colour"])
    errors = capsys.readouterr().err

    assert report == []
    assert (bad_budget, bad_group) == (2, 2)
    assert "max_budget" in errors
    assert "colour" in errors


def test_unreachable_database_is_one_line_naming_the_host(capsys: pytest.CaptureFixture[str]) -> None:
    """pixmux keys list against a closed port: exit 1, the host named, the password not."""
    from gateway_support import free_port

    port = free_port()
    status = pixmux(["keys", "list", "--database-url", f"postgresql://u:{PG_PASSWORD}@127.0.0.1:{port}/x"])
    err = capsys.readouterr().err

    assert status == 1
    assert f"127.0.0.1:{port}" in err
    assert PG_PASSWORD not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["store_prompts_in_spend_logs", "store_prompts"])
def test_prompts_are_stored_under_either_name(name: str) -> None:
    """LiteLLM's store_prompts_in_spend_logs and pixmux's store_prompts both keep prompts."""
    settings = parse_config(config(virtual_keys=True, **{name: True}), path="c.yaml", environ={}).accounting

    assert settings is not None
    assert settings.store_prompts


def test_several_processes_migrate_a_fresh_sqlite_file_at_once(tmp_path: Path) -> None:
    """``--workers N`` on a fresh SQLite file: every process runs the migrations at start, and all succeed."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'pixmux.db'}"
    command = [sys.executable, "-m", "pixmux", "db", "upgrade", "--database-url", url]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(6)]
    results = [(process.wait(120), process.stderr.read().decode() if process.stderr else "") for process in processes]

    assert [code for code, _ in results] == [0] * 6, [err for _, err in results if err]
    assert pixmux(["keys", "list", "--database-url", url, "--json"]) == 0
