"""`gradchain tx ...` and `gradchain query ...`: talk to a node over its gRPC API."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

import click

from chain.cli.key import password_options
from chain.client import ClientError, NodeClient, status_name, transfer_call
from chain.keystore import KeystoreError, load_key
from chain.primitives.calls import CallArgumentError
from chain.primitives.crypto import InvalidAddress, decode_address, encode_address
from proto import chain_pb2

NODE = click.option("--node", default="127.0.0.1:50051", show_default=True, help="gRPC address of a node.")


def _client(node: str) -> NodeClient:
    return NodeClient(node)


def _fail(e: Exception) -> None:
    raise click.ClickException(str(e)) from None


def parse_amount(text: str, decimals: int) -> int:
    """`1.5` tokens or `1500000000000` plancks (a plain integer is taken in the smallest unit)."""
    try:
        if "." in text or text.lower().endswith(("grad", "unit")):
            value = Decimal(text.lower().removesuffix("grad").removesuffix("unit").strip()) * (10**decimals)
        else:
            value = Decimal(text)
    except InvalidOperation:
        raise click.BadParameter(f"{text!r} is not an amount", param_hint="--amount") from None
    if value != value.to_integral_value() or value <= 0 or value >= 1 << 128:
        raise click.BadParameter(
            f"{text!r} is not a positive whole number of the smallest unit", param_hint="--amount"
        )
    return int(value)


@click.group()
def tx() -> None:
    """Sign and submit transactions."""


@tx.command()
@click.option(
    "--from",
    "sender",
    required=True,
    help="Key file or secret URI of the sender: //Alice (ed25519) or sr25519://Alice.",
)
@password_options("password of an encrypted --from key file")
@click.option("--to", "dest", required=True, help="SS58 address or 0x public key of the receiver.")
@click.option(
    "--amount", required=True, help="Smallest units (integer) or tokens with a decimal point, e.g. 1.5."
)
@click.option("--tip", type=click.IntRange(0), default=0, show_default=True)
@click.option("--allow-death", is_flag=True, help="Use transfer_allow_death (the sender may be reaped).")
@click.option("--mortal", type=click.IntRange(4, 65536), default=None, help="Mortal era period in blocks.")
@click.option(
    "--no-wait", is_flag=True, help="Return after the pool accepts it instead of waiting for finality."
)
@NODE
def transfer(sender, password, dest, amount, tip, allow_death, mortal, no_wait, node) -> None:
    """Transfer balance, and wait until the transfer is final."""
    try:
        keypair = load_key(sender, password)
        dest_id = decode_address(dest)
    except (KeystoreError, InvalidAddress) as e:
        _fail(e)
    try:
        with _client(node) as client:
            value = parse_amount(amount, client.params().token_decimals)
            raw = client.sign(
                keypair,
                transfer_call(dest_id, value, keep_alive=not allow_death),
                tip=tip,
                mortal_period=mortal,
            )
            if no_wait:
                click.echo(f"submitted 0x{client.submit(raw).hex()}")
                return
            status = client.submit_and_watch(raw)
    except (ClientError, CallArgumentError) as e:  # CallArgumentError: an amount above u128
        _fail(e)
    if status.status != chain_pb2.ExtrinsicStatus.FINALIZED:
        raise click.ClickException(f"transfer {status_name(status).lower()}: {status.reason}")
    if not status.success:
        raise click.ClickException(f"transfer failed in block #{status.block_number}: {status.reason}")
    click.echo(
        f"finalized in block #{status.block_number} 0x{bytes(status.block_hash).hex()} "
        f"(extrinsic 0x{bytes(status.hash).hex()})"
    )


@click.group()
def query() -> None:
    """Read chain data from a node."""


@query.command()
@click.argument("address")
@click.option("--json", "as_json", is_flag=True)
@NODE
def account(address, as_json, node) -> None:
    """Show an account's nonce and balances."""
    try:
        decode_address(address)
        with _client(node) as client:
            a = client.account(address)
    except (ClientError, InvalidAddress) as e:
        _fail(e)
    info = {
        "address": a.address,
        "nonce": a.nonce,
        "nextIndex": a.next_index,
        "free": a.free,
        "reserved": a.reserved,
        "frozen": a.frozen,
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            click.echo(f"{k + ':':<11}{v}")


def _block_args(block: str | None) -> dict:
    if block is None:
        return {}
    if block.startswith("0x"):
        try:
            raw = bytes.fromhex(block[2:])
        except ValueError:
            raise click.BadParameter("not a hex block hash", param_hint="BLOCK") from None
        return {"block_hash": raw}
    if not block.isdigit():
        raise click.BadParameter("a block number or 0x hash", param_hint="BLOCK")
    return {"number": int(block)}


@query.command()
@click.argument("block", required=False)
@NODE
def block(block, node) -> None:
    """Show a block (by number or hash; the head by default)."""
    try:
        with _client(node) as client:
            b = client.block(**_block_args(block))
    except ClientError as e:
        _fail(e)
    h = b.header
    click.echo(
        json.dumps(
            {
                "number": h.number,
                "hash": "0x" + h.hash.hex(),
                "parentHash": "0x" + h.parent_hash.hex(),
                "stateRoot": "0x" + h.state_root.hex(),
                "extrinsicsRoot": "0x" + h.extrinsics_root.hex(),
                "extrinsics": ["0x" + x.hex() for x in b.extrinsics],
                "justification": "0x" + b.justification.hex(),
            },
            indent=2,
        )
    )


@query.command()
@NODE
def head(node) -> None:
    """Show the chain, its head and the node's peers."""
    try:
        with _client(node) as client:
            i = client.info()
    except ClientError as e:
        _fail(e)
    click.echo(
        json.dumps(
            {
                "chain": i.chain_name,
                "id": i.chain_id,
                "genesis": "0x" + i.genesis_hash.hex(),
                "best": i.best_number,
                "bestHash": "0x" + i.best_hash.hex(),
                "finalized": i.finalized_number,
                "peers": i.peers,
                "specVersion": i.spec_version,
                "node": i.node_name,
            },
            indent=2,
        )
    )


@query.command()
@click.argument("block", required=False)
@NODE
def events(block, node) -> None:
    """Show the events of a block (the head by default)."""
    try:
        with _client(node) as client:
            ev = client.events(**_block_args(block))
    except ClientError as e:
        _fail(e)
    click.echo(
        json.dumps(
            {
                "block": ev.block_number,
                "hash": "0x" + ev.block_hash.hex(),
                "events": [
                    {
                        "phase": e.phase,
                        "extrinsic": e.extrinsic_index,
                        "pallet": e.pallet,
                        "event": e.name,
                        "fields": json.loads(e.fields_json or "null"),
                    }
                    for e in ev.events
                ],
            },
            indent=2,
        )
    )


__all__ = ["tx", "query", "encode_address"]
