// @polkadot/api against a gradchain dev node, as a new user writes it: connect, read Alice's account, send three
// transfers in a row from //Alice of an sr25519 keyring (the scheme of polkadot-js apps, extension and docs), each signed with the nonce the API reads
// itself and each seen InBlock, then Finalized; a utility.batchAll of two transfers, finalized with both
// effects; the author of a block, from the derived header (Session.Validators and the Aura slot); and the
// validator set from api.derive.staking.validators (Session.Validators, Staking.CurrentElected).
// Usage: node test.mjs ws://127.0.0.1:9944   (exit status 0 = every check passed)
import { Keyring } from '@polkadot/keyring';
import { connect } from './connect.mjs';

const url = process.argv[2] || 'ws://127.0.0.1:9944';
const TRANSFERS = 3;
const AMOUNT = 1_000_000_000_000n;
const FINALITY_TIMEOUT_MS = 60_000;
// The dev chain's one validator: the ed25519 //Alice key, which proposes every block and receives its fees.
const DEV_VALIDATOR = '5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu';

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

function sendAndFinalize(api, tx, from) {
  return new Promise((resolve, reject) => {
    let unsub = null;
    const timer = setTimeout(() => reject(new Error('no finality within the timeout')), FINALITY_TIMEOUT_MS);
    const statuses = [];
    let inBlock = null;
    tx.signAndSend(from, ({ status, events, dispatchError }) => {
      statuses.push(status.type);
      if (status.isInvalid || status.isDropped || status.isUsurped) {
        clearTimeout(timer);
        reject(new Error(`transaction ${status.type}`));
      } else if (status.isInBlock) {
        inBlock = status.asInBlock.toHex();
      } else if (status.isFinalized) {
        clearTimeout(timer);
        if (unsub) unsub();
        resolve({ blockHash: status.asFinalized.toHex(), inBlock, events, dispatchError, statuses });
      }
    }).then((u) => { unsub = u; }, (e) => { clearTimeout(timer); reject(e); });
  });
}

async function free(api, address) {
  return (await api.query.system.account(address)).data.free.toBigInt();
}

async function main() {
  const api = await connect(url);
  check(api.genesisHash.toHex().length === 66, `connected to ${(await api.rpc.system.chain()).toString()}, genesis ${api.genesisHash.toHex()}`);
  check(api.runtimeVersion.specName.toString() === 'gradchain', `runtime ${api.runtimeVersion.specName} v${api.runtimeVersion.specVersion}`);
  check(api.runtimeMetadata.version >= 14, `metadata V${api.runtimeMetadata.version}`);

  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 }); // as polkadot-js apps, the extension and the docs
  const alice = keyring.addFromUri('//Alice');
  const bob = keyring.addFromUri('//Bob');
  const charlie = keyring.addFromUri('//Charlie');
  check(alice.type === 'sr25519' && alice.address === '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY', `//Alice is ${alice.address} (${alice.type})`);

  const before = await api.query.system.account(alice.address);
  const bobBefore = await free(api, bob.address);
  check(before.data.free.toBigInt() > AMOUNT * BigInt(TRANSFERS + 2), `Alice has ${before.data.free.toHuman()} free, nonce ${before.nonce}`);

  const header = await api.rpc.chain.getHeader();
  check(header.number.toNumber() >= 0, `head #${header.number}`);

  let lastBlock = null;
  for (let i = 0; i < TRANSFERS; i++) {
    const tx = api.tx.balances.transferKeepAlive(bob.address, AMOUNT);
    const { blockHash, inBlock, events, dispatchError, statuses } = await sendAndFinalize(api, tx, alice);
    check(!dispatchError, `transfer ${i + 1} finalized in ${blockHash} (${statuses.join(' -> ')})`);
    check(inBlock === blockHash && statuses.indexOf('InBlock') < statuses.indexOf('Finalized'), `transfer ${i + 1} was seen InBlock ${inBlock} before Finalized`);
    const names = events.map(({ event }) => `${event.section}.${event.method}`);
    check(names.includes('balances.Transfer') && names.includes('system.ExtrinsicSuccess'), `events: ${names.join(', ')}`);
    lastBlock = blockHash;
  }

  const after = await api.query.system.account(alice.address);
  check(after.nonce.toNumber() === before.nonce.toNumber() + TRANSFERS, `Alice's nonce went from ${before.nonce} to ${after.nonce}`);
  check((await free(api, bob.address)) - bobBefore === AMOUNT * BigInt(TRANSFERS), `Bob received ${AMOUNT * BigInt(TRANSFERS)}`);

  const info = await api.tx.balances.transferKeepAlive(bob.address, AMOUNT).paymentInfo(alice);
  check(info.partialFee.toBigInt() > 0n, `fee estimate ${info.partialFee.toHuman()}`);

  const [bobMid, charlieMid] = [await free(api, bob.address), await free(api, charlie.address)];
  const batch = api.tx.utility.batchAll([
    api.tx.balances.transferKeepAlive(bob.address, AMOUNT),
    api.tx.balances.transferKeepAlive(charlie.address, 2n * AMOUNT),
  ]);
  const batched = await sendAndFinalize(api, batch, alice);
  const batchEvents = batched.events.map(({ event }) => `${event.section}.${event.method}`);
  check(!batched.dispatchError && batchEvents.includes('utility.BatchCompleted')
        && batchEvents.filter((n) => n === 'utility.ItemCompleted').length === 2, `utility.batchAll finalized in ${batched.blockHash}: ${batchEvents.join(', ')}`);
  const [bobEnd, charlieEnd] = [await free(api, bob.address), await free(api, charlie.address)];
  check(bobEnd - bobMid === AMOUNT && charlieEnd - charlieMid === 2n * AMOUNT, 'both transfers of the batch took effect');

  const validators = (await api.query.session.validators()).map(String);
  check(validators.length === 1 && validators[0] === DEV_VALIDATOR, `session.validators: ${validators.join(', ')}`);
  const derived = await api.derive.chain.getHeader(lastBlock);
  check(derived.author && derived.author.toString() === DEV_VALIDATOR, `block #${derived.number} was authored by ${derived.author}`);
  const block = await api.derive.chain.getBlock(batched.blockHash);
  check(block.author && block.author.toString() === DEV_VALIDATOR, `derive.chain.getBlock: block #${block.block.header.number} author ${block.author}`);
  const staking = await api.derive.staking.validators();
  const [current, next] = [staking.validators.map(String), staking.nextElected.map(String)];
  check(current.length === 1 && current[0] === DEV_VALIDATOR && next.length === 1 && next[0] === DEV_VALIDATOR,
        `derive.staking.validators: validators ${current.join(', ')}, nextElected ${next.join(', ')}`);
  const points = await api.query.staking.erasRewardPoints(0);
  const earners = [...points.individual.entries()].map(([who, n]) => [who.toString(), n.toNumber()]);
  check(earners.length === 1 && earners[0][0] === DEV_VALIDATOR && earners[0][1] === points.total.toNumber()
        && points.total.toNumber() > 0, `staking.erasRewardPoints(0): ${points.total} points, all the dev validator's`);

  await api.disconnect();
}

main().then(() => process.exit(0), (e) => {
  console.error(`not ok - ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
