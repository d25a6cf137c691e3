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
    assert (
        "secretUri" not in result.output and "0x" not in result.output and "ss58Address" not in result.output
    )


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
    phrase = next(line for line in result.output.splitlines() if line.startswith("Secret URI:")).split(
        ":", 1
    )[1]
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


ALICE_SR25519 = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def test_load_key_takes_either_scheme_by_prefix_or_scheme():
    from chain.primitives.crypto import SignatureScheme

    assert load_key("//Alice").ss58() == load_key("ed25519://Alice").ss58() == ALICE
    assert (
        load_key("sr25519://Alice").ss58()
        == load_key("//Alice", scheme=SignatureScheme.SR25519).ss58()
        == ALICE_SR25519
    )
    assert load_key("SR25519://Alice/soft").scheme is SignatureScheme.SR25519
    with pytest.raises(KeystoreError, match="says ed25519 but --scheme says sr25519"):
        load_key("ed25519://Alice", scheme=SignatureScheme.SR25519)
    with pytest.raises(KeystoreError, match="soft derivation"):
        load_key("//Alice/soft")
    with pytest.raises(KeystoreError, match="only ed25519 keys can be used here"):
        load_key("sr25519://Alice", allowed=(SignatureScheme.ED25519,))


def test_sr25519_key_file_round_trips_with_its_scheme(tmp_path):
    from chain.primitives.crypto import SignatureScheme

    path = tmp_path / "sr.json"
    kp = write_key_file(path, "//Alice", password="pw", scheme=SignatureScheme.SR25519)
    assert kp.ss58() == ALICE_SR25519 and json.loads(path.read_text())["scheme"] == "sr25519"
    assert read_key_file(path, "pw").public == kp.public and read_key_file(path, "pw").scheme is kp.scheme
    assert load_key(f"sr25519:{path}", "pw").public == kp.public
    with pytest.raises(KeystoreError, match="holds an sr25519 key, not ed25519"):
        load_key(f"ed25519:{path}", "pw")
    tampered = json.loads(path.read_text())
    tampered["scheme"] = "ed25519"
    (tmp_path / "t.json").write_text(json.dumps(tampered))
    with pytest.raises(KeystoreError, match="does not match"):
        read_key_file(tmp_path / "t.json", "pw")
    tampered["scheme"] = "ecdsa"
    (tmp_path / "e.json").write_text(json.dumps(tampered))
    with pytest.raises(KeystoreError, match="unknown key scheme"):
        read_key_file(tmp_path / "e.json", "pw")


def test_cli_inspect_sr25519_by_option_or_prefix():
    for args in (["sr25519://Alice"], ["--scheme", "sr25519", "//Alice"]):
        result = CliRunner().invoke(main, ["key", "inspect", *args, "--output-type", "json"])
        assert result.exit_code == 0, result.output
        info = json.loads(result.output)
        assert info["ss58Address"] == ALICE_SR25519 and info["scheme"] == "sr25519"
    shown = json.loads(
        CliRunner()
        .invoke(main, ["key", "inspect", "sr25519://Alice/soft", "--show-secret", "--output-type", "json"])
        .output
    )
    assert shown["secretUri"] == "//Alice/soft" and len(bytes.fromhex(shown["secretKey"][2:])) == 64
    refused = CliRunner().invoke(main, ["key", "inspect", "//Alice/soft"])
    assert refused.exit_code != 0 and "not supported for Ed25519" in refused.output


def test_cli_generate_sr25519_to_file(tmp_path):
    path = tmp_path / "sr.json"
    result = CliRunner().invoke(
        main,
        [
            "key",
            "generate",
            "--scheme",
            "sr25519",
            "--file",
            str(path),
            "--show-secret",
            "--output-type",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.output[: result.output.rindex("}") + 1])
    assert info["scheme"] == "sr25519" and info["secretSeed"].startswith("0x")
    assert (
        read_key_file(path).ss58() == info["ss58Address"] == load_key("sr25519:" + info["secretUri"]).ss58()
    )


def test_invalid_sr25519_validator_key_is_refused(tmp_path):
    result = CliRunner().invoke(
        main, ["node", "--dev", "-d", str(tmp_path / "base"), "--key", "sr25519://Alice", "--no-prometheus"]
    )
    assert result.exit_code != 0
    assert (
        "only ed25519 keys can be used here" in result.output
        and "validator and consensus keys" in result.output
    )
