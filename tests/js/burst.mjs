// Nonce tracking against a gradchain dev node: three transfers from //Dave to //Eve sent back to back with
// @polkadot/api's signAndSend, none awaited to inclusion or finality before the next is sent. All three must
// finalize with consecutive nonces and Eve's balance must rise by their sum.
//
// Each nonce comes from system_accountNextIndex, which counts the node's pool. signAndSend's own choices
// cannot work back to back: with no nonce it reads the on-chain nonce (derive.balances.account), and with
// nonce -1 it asks the AccountNonceApi runtime API, also on-chain only, so a second transfer sent before the
// first is in a block would reuse its nonce (TooLowPriority or Usurped), on Substrate as here.
// Usage: node burst.mjs ws://127.0.0.1:9944   (exit status 0 = every check passed)
import { Keyring } from '@polkadot/keyring';
import { connect } from './connect.mjs';

const url = process.argv[2] || 'ws://127.0.0.1:9944';
const AMOUNTS = [1_000_000_000_000n, 2_000_000_000_000n, 3_000_000_000_000n];
const FINALITY_TIMEOUT_MS = 60_000;

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

// Sends one transfer and returns once the node has accepted it, with `finalized`, a promise of its outcome
// (wrapped in an object so that awaiting the send does not also await finality).
async function send(api, from, to, amount) {
  let settle;
  const finalized = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  const timer = setTimeout(() => settle.reject(new Error('no finality within the timeout')), FINALITY_TIMEOUT_MS);
  const tx = api.tx.balances.transferKeepAlive(to, amount);
  const nonce = await api.rpc.system.accountNextIndex(from.address);
  const unsub = await tx.signAndSend(from, { nonce }, ({ status, dispatchError }) => {
    if (status.isInvalid || status.isDropped || status.isUsurped) {
      clearTimeout(timer);
      settle.reject(new Error(`transaction with nonce ${tx.nonce} is ${status.type}`));
    } else if (status.isFinalized) {
      clearTimeout(timer);
      settle.resolve({ nonce: tx.nonce.toNumber(), blockHash: status.asFinalized.toHex(), dispatchError });
    }
  });
  const outcome = finalized.finally(() => unsub());
  outcome.catch(() => {}); // handled by the Promise.all in main; this only keeps Node from exiting early
  return { finalized: outcome };
}

async function main() {
  const api = await connect(url);

  const keyring = new Keyring({ type: 'ed25519', ss58Format: 42 });
  const dave = keyring.addFromUri('//Dave');
  const eve = keyring.addFromUri('//Eve');
  const daveBefore = await api.query.system.account(dave.address);
  const eveBefore = (await api.query.system.account(eve.address)).data.free.toBigInt();

  const pending = [];
  for (const amount of AMOUNTS) pending.push(await send(api, dave, eve.address, amount));
  check(pending.length === AMOUNTS.length, `${AMOUNTS.length} transfers sent without waiting for inclusion`);

  const results = await Promise.all(pending.map(({ finalized }) => finalized));
  for (const { nonce, blockHash, dispatchError } of results) {
    check(!dispatchError, `transfer with nonce ${nonce} finalized in ${blockHash}`);
  }
  const nonces = results.map(({ nonce }) => nonce);
  const first = daveBefore.nonce.toNumber();
  check(nonces.every((nonce, i) => nonce === first + i), `nonces ${nonces.join(', ')} are consecutive from ${first}`);

  const daveAfter = await api.query.system.account(dave.address);
  const eveAfter = (await api.query.system.account(eve.address)).data.free.toBigInt();
  const total = AMOUNTS.reduce((a, b) => a + b, 0n);
  check(daveAfter.nonce.toNumber() === first + AMOUNTS.length, `Dave's nonce went from ${first} to ${daveAfter.nonce}`);
  check(eveAfter - eveBefore === total, `Eve received ${eveAfter - eveBefore} = ${total}`);

  await api.disconnect();
}

main().then(() => process.exit(0), (e) => {
  console.error(`not ok - ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
