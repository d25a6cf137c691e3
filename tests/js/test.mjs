// @polkadot/api against a gradchain dev node: connect, read Alice's account, then send three transfers in a
// row from //Alice (ed25519), each signed with the nonce the API reads itself and each awaited to finality.
// Usage: node test.mjs ws://127.0.0.1:9944   (exit status 0 = every check passed)
import { Keyring } from '@polkadot/keyring';
import { connect } from './connect.mjs';

const url = process.argv[2] || 'ws://127.0.0.1:9944';
const TRANSFERS = 3;
const AMOUNT = 1_000_000_000_000n;
const FINALITY_TIMEOUT_MS = 60_000;

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

function transferAndFinalize(api, from, to, amount) {
  return new Promise((resolve, reject) => {
    let unsub = null;
    const timer = setTimeout(() => reject(new Error('no finality within the timeout')), FINALITY_TIMEOUT_MS);
    const statuses = [];
    api.tx.balances.transferKeepAlive(to, amount)
      .signAndSend(from, ({ status, events, dispatchError }) => {
        statuses.push(status.type);
        if (status.isInvalid || status.isDropped || status.isUsurped) {
          clearTimeout(timer);
          reject(new Error(`transaction ${status.type}`));
        } else if (status.isFinalized) {
          clearTimeout(timer);
          if (unsub) unsub();
          resolve({ blockHash: status.asFinalized.toHex(), events, dispatchError, statuses });
        }
      })
      .then((u) => { unsub = u; }, (e) => { clearTimeout(timer); reject(e); });
  });
}

async function main() {
  const api = await connect(url);
  check(api.genesisHash.toHex().length === 66, `connected to ${(await api.rpc.system.chain()).toString()}, genesis ${api.genesisHash.toHex()}`);
  check(api.runtimeVersion.specName.toString() === 'gradchain', `runtime ${api.runtimeVersion.specName} v${api.runtimeVersion.specVersion}`);
  check(api.runtimeMetadata.version === 14, `metadata V${api.runtimeMetadata.version}`);

  const keyring = new Keyring({ type: 'ed25519', ss58Format: 42 });
  const alice = keyring.addFromUri('//Alice');
  const bob = keyring.addFromUri('//Bob');
  check(alice.address === '5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu', `//Alice is ${alice.address}`);

  const before = await api.query.system.account(alice.address);
  const bobBefore = (await api.query.system.account(bob.address)).data.free.toBigInt();
  check(before.data.free.toBigInt() > AMOUNT * BigInt(TRANSFERS), `Alice has ${before.data.free.toHuman()} free, nonce ${before.nonce}`);

  const header = await api.rpc.chain.getHeader();
  check(header.number.toNumber() >= 0, `head #${header.number}`);

  for (let i = 0; i < TRANSFERS; i++) {
    const { blockHash, events, dispatchError, statuses } = await transferAndFinalize(api, alice, bob.address, AMOUNT);
    check(!dispatchError, `transfer ${i + 1} finalized in ${blockHash} (${statuses.join(' -> ')})`);
    const names = events.map(({ event }) => `${event.section}.${event.method}`);
    check(names.includes('balances.Transfer') && names.includes('system.ExtrinsicSuccess'), `events: ${names.join(', ')}`);
  }

  const after = await api.query.system.account(alice.address);
  const bobAfter = (await api.query.system.account(bob.address)).data.free.toBigInt();
  check(after.nonce.toNumber() === before.nonce.toNumber() + TRANSFERS, `Alice's nonce went from ${before.nonce} to ${after.nonce}`);
  check(bobAfter - bobBefore === AMOUNT * BigInt(TRANSFERS), `Bob received ${bobAfter - bobBefore}`);

  const info = await api.tx.balances.transferKeepAlive(bob.address, AMOUNT).paymentInfo(alice);
  check(info.partialFee.toBigInt() > 0n, `fee estimate ${info.partialFee.toHuman()}`);

  await api.disconnect();
}

main().then(() => process.exit(0), (e) => {
  console.error(`not ok - ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
