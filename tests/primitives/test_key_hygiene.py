"""Keys stay out of reach: `purge-chain` keeps the signer guard, passwords need not appear in argv, and a key
file others may read is warned about. Each test runs the real `gradchain` command line in process."""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner

from chain.cli import main
from chain.keystore import write_key_file
from chain.primitives.crypto import dev_keypair

BOB = dev_keypair("Bob")


@pytest.fixture
def chain_dir(tmp_path):
    """A base path holding a `dev` chain: its database, WAL and signer guard, as a validator leaves them."""
    chain = tmp_path / "base" / "chains" / "dev"
    (chain / "db").mkdir(parents=True)
    (chain / "db" / "CURRENT").write_text("MANIFEST-000001\n")
    (chain / "consensus").mkdir()
    (chain / "consensus" / "wal").write_bytes(b"wal records")
    (chain / "consensus" / "last_signed").write_bytes(b"height 42")
    return chain


def purge(chain_dir, *flags: str):
    return CliRunner().invoke(
        main, ["purge-chain", "--chain", "dev", "-d", str(chain_dir.parents[1]), "-y", *flags]
    )


def test_purge_chain_deletes_the_database_and_wal_but_keeps_the_signer_guard(chain_dir):
    out = purge(chain_dir)
    assert out.exit_code == 0, out.output
    assert not (chain_dir / "db").exists() and not (chain_dir / "consensus" / "wal").exists()
    assert (chain_dir / "consensus" / "last_signed").read_bytes() == b"height 42"
    assert "last_signed kept" in out.output


def test_purge_chain_deletes_the_signer_guard_only_with_its_own_flag(chain_dir):
    out = purge(chain_dir, "--delete-signer-guard")
    assert out.exit_code == 0, out.output
    assert not (chain_dir / "consensus" / "last_signed").exists() and not (chain_dir / "db").exists()


def test_purge_chain_help_says_the_signer_guard_is_kept():
    text = " ".join(CliRunner().invoke(main, ["purge-chain", "--help"]).output.split())
    assert "signer guard" in text and "are kept" in text and "--delete-signer-guard" in text


@pytest.fixture
def sealed_key(tmp_path):
    path = tmp_path / "bob.json"
    write_key_file(path, "//Bob", password="correct horse")
    return path


def inspect(key_path, *args: str, env: dict | None = None):
    return CliRunner().invoke(
        main, ["key", "inspect", str(key_path), "--output-type", "json", *args], env=env
    )


def test_password_file_unlocks_a_key_without_a_warning(sealed_key, tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("correct horse\n")
    password_file.chmod(0o600)
    out = inspect(sealed_key, "--password-file", str(password_file))
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["publicKey"] == "0x" + BOB.public.hex() and "warning" not in out.stderr


def test_environment_password_unlocks_a_key_without_a_warning(sealed_key):
    out = inspect(sealed_key, env={"GRADCHAIN_KEY_PASSWORD": "correct horse"})
    assert out.exit_code == 0 and "warning" not in out.stderr


def test_password_in_argv_still_works_but_warns_it_is_visible(sealed_key):
    out = inspect(sealed_key, "--password", "correct horse")
    assert out.exit_code == 0 and "/proc/PID/cmdline" in out.stderr


def test_invalid_password_file_and_password_together_are_refused(sealed_key, tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("correct horse")
    out = inspect(sealed_key, "--password-file", str(password_file), "--password", "correct horse")
    assert out.exit_code == 2 and "not both" in out.stderr


def test_invalid_wrong_password_file_is_refused(sealed_key, tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("wrong")
    out = inspect(sealed_key, "--password-file", str(password_file))
    assert out.exit_code == 1 and "wrong password" in out.stderr


def test_key_file_readable_by_others_is_warned_about(sealed_key, caplog):
    sealed_key.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="gradchain.keystore"):
        out = inspect(sealed_key, env={"GRADCHAIN_KEY_PASSWORD": "correct horse"})
    assert out.exit_code == 0
    assert any(
        "readable by group or others" in r.getMessage() and "chmod 600" in r.getMessage()
        for r in caplog.records
    )


def test_private_key_file_gives_no_warning(sealed_key, caplog):
    with caplog.at_level(logging.WARNING, logger="gradchain.keystore"):
        assert inspect(sealed_key, env={"GRADCHAIN_KEY_PASSWORD": "correct horse"}).exit_code == 0
    assert not caplog.records
