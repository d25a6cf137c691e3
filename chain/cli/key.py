"""`gradchain key generate|inspect`: create and examine account keys, Ed25519 (the default) or Sr25519.

Derivation matches subkey's for each scheme: `//hard` junctions for both, `/soft` junctions for Sr25519
only. `--scheme sr25519` and an `sr25519:` prefix on the URI (`sr25519://Alice`) say the same thing.

`password_options` gives every command that reads or writes an encrypted key file the same three ways to
pass its password: `--password-file PATH`, the GRADCHAIN_KEY_PASSWORD environment variable, or `--password`,
which still works but is visible to every local user in /proc/PID/cmdline and so warns when used.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from chain.keystore import (
    KeystoreError,
    generate_phrase,
    load_key,
    read_password_file,
    split_scheme,
    write_key_file,
)
from chain.primitives.crypto import (
    DEFAULT_SS58_FORMAT,
    KEY_SCHEMES,
    InvalidAddress,
    InvalidKey,
    Keypair,
    SignatureScheme,
    Sr25519Keypair,
    decode_address,
    encode_address,
    keypair_from_uri,
)


def _describe(
    keypair: Keypair | Sr25519Keypair | None,
    public: bytes,
    ss58_format: int,
    secret: str | None,
    scheme: SignatureScheme | None,
) -> dict:
    info = {
        "accountId": "0x" + public.hex(),
        "publicKey": "0x" + public.hex(),
        "ss58Address": encode_address(public, ss58_format),
        "ss58PublicKey": encode_address(public, ss58_format),
    }
    if scheme is not None:
        info["scheme"] = scheme.name.lower()
    if secret is not None:
        info["secretUri"] = secret
        if keypair is not None and keypair.seed is not None:
            info["secretSeed"] = "0x" + keypair.seed.hex()
        elif isinstance(keypair, Sr25519Keypair):  # derived: schnorrkel keeps no seed, only the secret key
            info["secretKey"] = "0x" + keypair.secret.hex()
    return info


def _emit(info: dict, output_type: str, note: str | None = None) -> None:
    if output_type == "json":
        click.echo(json.dumps(info, indent=2))
        return
    labels = [
        ("secretUri", "Secret URI"),
        ("secretSeed", "Secret seed"),
        ("secretKey", "Secret key"),
        ("scheme", "Scheme"),
        ("publicKey", "Public key (hex)"),
        ("accountId", "Account ID"),
        ("ss58Address", "SS58 Address"),
    ]
    for key_name, label in labels:
        if key_name in info:
            click.echo(f"{label + ':':<22}{info[key_name]}")
    if note:
        click.echo(note)


OUTPUT = click.option("--output-type", type=click.Choice(["text", "json"]), default="text", show_default=True)
NETWORK = click.option(
    "--network",
    "ss58_format",
    type=click.IntRange(0, 16383),
    default=DEFAULT_SS58_FORMAT,
    show_default=True,
    help="SS58 address format.",
)


def scheme_option(default: str | None):
    return click.option(
        "--scheme",
        type=click.Choice([s.name.lower() for s in KEY_SCHEMES]),
        default=default,
        show_default=default is not None,
        help="Signature scheme: ed25519 (validators' and the default) or sr25519 (polkadot-js's, "
        "subkey's default)." + ("" if default else "  [default: ed25519, or the key file's]"),
    )


PASSWORD_ENV = "GRADCHAIN_KEY_PASSWORD"


def resolve_password(password: str | None, password_file: Path | None) -> str | None:
    """The one password a command was given, from --password-file, the environment or --password."""
    source = click.get_current_context().get_parameter_source("password")
    if password_file is not None:
        if password is not None and source is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("give the password once: --password-file or --password, not both")
        try:
            return read_password_file(password_file)
        except KeystoreError as e:
            raise click.BadParameter(str(e), param_hint="--password-file") from None
    if source is click.core.ParameterSource.COMMANDLINE:
        click.echo(
            "warning: --password is visible to every local user in /proc/PID/cmdline and in shell "
            f"history; use --password-file PATH or {PASSWORD_ENV} instead",
            err=True,
        )
    return password


def password_options(purpose: str):
    """`--password-file`, GRADCHAIN_KEY_PASSWORD and `--password`, resolved into the command's `password`."""

    def decorate(command):
        @click.option(
            "--password-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help=f"Read the {purpose} from this file (its content, less a trailing "
            f"newline; keep it mode 0600). Preferred over --password.",
        )
        @click.option(
            "--password",
            envvar=PASSWORD_ENV,
            default=None,
            help=f"The {purpose} (or set {PASSWORD_ENV}). Visible to other local users in "
            "/proc/PID/cmdline: prefer --password-file or the environment variable.",
        )
        @functools.wraps(command)
        def with_password(*args, password: str | None, password_file: Path | None, **kwargs):
            return command(*args, password=resolve_password(password, password_file), **kwargs)

        return with_password

    return decorate


def _looks_secret(key_spec: str) -> bool:
    """A secret URI, seed or key file, as opposed to an SS58 address (a 0x seed is a secret, as in subkey)."""
    prefixed, key_spec = split_scheme(key_spec)
    return (
        prefixed is not None
        or key_spec.startswith(("/", "0x"))
        or " " in key_spec
        or Path(key_spec).is_file()
    )


@click.group()
def key() -> None:
    """Generate and inspect account keys (ed25519 or sr25519)."""


@key.command()
@click.option(
    "--file",
    "file_",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the key to this file (mode 0600). Needed unless --show-secret is given.",
)
@click.option("--words", type=click.Choice(["12", "15", "18", "21", "24"]), default="12", show_default=True)
@password_options("password that encrypts the key file")
@click.option(
    "--show-secret",
    is_flag=True,
    help="Print the secret phrase and seed. Without --file this is the only copy of the key.",
)
@scheme_option("ed25519")
@OUTPUT
@NETWORK
def generate(
    file_: Path | None,
    words: str,
    password: str | None,
    show_secret: bool,
    scheme: str,
    output_type: str,
    ss58_format: int,
) -> None:
    """Generate a new key from a fresh BIP-39 phrase.

    The secret is never printed unless --show-secret asks for it, and a key is never generated only to be
    lost: pass --file PATH to keep it, --show-secret to see it, or both.
    """
    if file_ is None and not show_secret:
        raise click.UsageError(
            "the new key would be lost: pass --file PATH to save it (mode 0600) "
            "or --show-secret to print its secret phrase"
        )
    chosen = SignatureScheme.named(scheme)
    phrase = generate_phrase(int(words))
    if file_ is not None:
        try:
            keypair = write_key_file(file_, phrase, password, ss58_format, chosen)
        except KeystoreError as e:
            raise click.ClickException(str(e)) from None
        info = _describe(keypair, keypair.public, ss58_format, phrase if show_secret else None, chosen)
        info["file"] = str(file_)
        _emit(info, output_type, f"Key written to {file_}" + (" (encrypted)" if password else ""))
        return
    keypair = keypair_from_uri(phrase, chosen)
    _emit(
        _describe(keypair, keypair.public, ss58_format, phrase, chosen),
        output_type,
        "Keep the secret phrase safe: it is the only way to recover this account.",
    )


@key.command()
@click.argument("key_spec", metavar="URI|FILE|ADDRESS")
@password_options("password of an encrypted key file")
@click.option("--show-secret", is_flag=True, help="Also print the secret URI and seed (hidden by default).")
@click.option("--public", "public_only", is_flag=True, help="Treat the argument as an address or public key.")
@scheme_option(None)
@OUTPUT
@NETWORK
def inspect(
    key_spec: str,
    password: str | None,
    show_secret: bool,
    public_only: bool,
    scheme: str | None,
    output_type: str,
    ss58_format: int,
) -> None:
    """Show the public key and address of a secret URI (e.g. //Alice, or sr25519://Alice), a key file, or an
    address."""
    chosen = None if scheme is None else SignatureScheme.named(scheme)
    if public_only or not _looks_secret(key_spec):
        try:  # an address has no scheme of its own; echo the one asked for, if any
            _emit(_describe(None, decode_address(key_spec), ss58_format, None, chosen), output_type)
            return
        except InvalidAddress as e:
            if public_only:
                raise click.ClickException(str(e)) from None
    try:
        keypair = load_key(key_spec, password, chosen)
    except (KeystoreError, InvalidKey) as e:
        raise click.ClickException(str(e)) from None
    secret = None
    if show_secret:
        uri = split_scheme(key_spec)[1]
        secret = "(from key file)" if Path(uri).is_file() else uri
    _emit(_describe(keypair, keypair.public, ss58_format, secret, keypair.scheme), output_type)
