"""Key files and the `gradchain key` commands."""

import json
import stat

import pytest
from click.testing import CliRunner

from chain.cli import main
from chain.keystore import KeystoreError, load_key, read_key_file, write_key_file

ALICE = "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu"


def test_key_file_is_private_and_round_trips(tmp_path):
    path = tmp_path / "k.json"
    kp = write_key_file(path, "//Alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path).public == kp.public


def test_encrypted_key_file_needs_the_right_password(tmp_path):
    path = tmp_path / "k.json"
    kp = write_key_file(path, "//Bob", password="hunter2")
    assert "//Bob" not in path.read_text()
    assert read_key_file(path, "hunter2").public == kp.public
    with pytest.raises(KeystoreError, match="wrong password"):
        read_key_file(path, "nope")
    with pytest.raises(KeystoreError, match="password is needed"):
        read_key_file(path)


def test_invalid_existing_key_file_is_never_overwritten(tmp_path):
    path = tmp_path / "k.json"
    write_key_file(path, "//Alice")
    with pytest.raises(KeystoreError, match="already exists"):
        write_key_file(path, "//Bob")


def test_invalid_key_file_content(tmp_path):
    path = tmp_path / "k.json"
    path.write_text("{not json")
    with pytest.raises(KeystoreError, match="not a readable"):
        read_key_file(path)
    with pytest.raises(KeystoreError):
        load_key("definitely not a phrase")


def test_cli_inspect_alice_prints_well_known_address():
    result = CliRunner().invoke(main, ["key", "inspect", "//Alice", "--output-type", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["ss58Address"] == ALICE
    assert "secretSeed" not in info and "secretUri" not in info


def test_cli_generate_to_file_hides_secret(tmp_path):
    path = tmp_path / "new.json"
    result = CliRunner().invoke(main, ["key", "generate", "--file", str(path), "--output-type", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output[: result.output.rindex("}") + 1])
    assert "secretUri" not in info
    assert read_key_file(path).ss58() == info["ss58Address"]


def test_cli_inspect_bad_input_fails_cleanly():
    result = CliRunner().invoke(main, ["key", "inspect", "--public", "0x1234"])
    assert result.exit_code != 0 and "Error" in result.output


def test_invalid_generate_without_file_or_show_secret_refuses_and_prints_nothing_secret():
    result = CliRunner().invoke(main, ["key", "generate", "--output-type", "json"])
    assert result.exit_code == 2
    assert "--file PATH" in result.output and "--show-secret" in result.output
    assert "secretUri" not in result.output and "0x" not in result.output and "ss58Address" not in result.output


def test_cli_generate_shows_secret_only_when_asked():
    result = CliRunner().invoke(main, ["key", "generate", "--show-secret", "--output-type", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert len(info["secretUri"].split()) == 12 and info["secretSeed"].startswith("0x")
    assert load_key(info["secretUri"]).ss58() == info["ss58Address"]


def test_cli_generate_to_file_with_show_secret_prints_the_saved_key(tmp_path):
    path = tmp_path / "new.json"
    result = CliRunner().invoke(main, ["key", "generate", "--file", str(path), "--show-secret"])
    assert result.exit_code == 0, result.output
    phrase = next(line for line in result.output.splitlines() if line.startswith("Secret URI:")).split(":", 1)[1]
    assert load_key(phrase.strip()).public == read_key_file(path).public
    assert f"Key written to {path}" in result.output


def test_cli_generate_to_file_text_output_hides_secret(tmp_path):
    path = tmp_path / "new.json"
    result = CliRunner().invoke(main, ["key", "generate", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert "Secret" not in result.output
    assert read_key_file(path).seed.hex() not in result.output


def test_cli_inspect_secret_uri_hides_secret_unless_asked():
    hidden = CliRunner().invoke(main, ["key", "inspect", "//Alice"])
    assert hidden.exit_code == 0, hidden.output
    assert "//Alice" not in hidden.output and "Secret" not in hidden.output
    shown = CliRunner().invoke(main, ["key", "inspect", "//Alice", "--show-secret", "--output-type", "json"])
    info = json.loads(shown.output)
    assert info["secretUri"] == "//Alice" and info["ss58Address"] == ALICE
