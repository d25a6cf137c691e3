// polkadot-api 2.x, unchanged, against a gradchain dev node through the new JSON-RPC spec only: no codegen
// (the unsafe API reads everything from metadata V15) and no compatibility layer. With "raw" (the default)
// the provider is getWsRawProvider, polkadot-api's bare WebSocket provider (@polkadot-api/ws-provider with no
// middleware); with "ws" it is getWsProvider, the one polkadot-api's docs use, whose middleware sends the
// new-spec methods through unchanged when rpc_methods lists them.
// Connect, follow finalized blocks, read System.Account, a ComputeMarket item and System's constants, watch
// a balance, and see one transfer signed with sr25519 and one with ed25519 finalized.
// Usage: node papi.mjs ws://127.0.0.1:9944 [raw|ws]   (exit status 0 = every check passed)
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { createClient, Enum } from 'polkadot-api';
import { getPolkadotSigner } from 'polkadot-api/signer';
import { getWsProvider, getWsRawProvider } from 'polkadot-api/ws';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { WebSocket } from 'ws';

const url = process.argv[2] || 'ws://127.0.0.1:9944';
const providerName = process.argv[3] || 'raw';
const AMOUNT = 1_000_000_000_000n;
const TIMEOUT_MS = 90_000;

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

function signerOf(pair, scheme) {
  return getPolkadotSigner(pair.publicKey, scheme, (payload) => pair.sign(payload));
}

async function transfer(api, signer, dest, scheme) {
  const tx = api.tx.Balances.transfer_keep_alive({ dest: Enum('Id', dest), value: AMOUNT });
  const seen = [];
  const finalized = await firstValueFrom(tx.signSubmitAndWatch(signer).pipe(
    filter((event) => { seen.push(event.type); return event.type === 'finalized'; })));
  check(finalized.ok, `${scheme} transfer finalized in #${finalized.block.number} ${finalized.block.hash} (${seen.join(' -> ')})`);
  const names = finalized.events.map((e) => `${e.type}.${e.value.type}`);
  check(names.includes('Balances.Transfer') && names.includes('System.ExtrinsicSuccess'), `events: ${names.join(', ')}`);
  return finalized;
}

async function main() {
  await cryptoWaitReady();
  const config = { websocketClass: WebSocket };  // Node 20 has no global WebSocket
  const provider = providerName === 'ws' ? getWsProvider(url, config) : getWsRawProvider(url, config);
  const client = createClient(provider);
  const timer = setTimeout(() => { console.error('timed out'); process.exit(2); }, TIMEOUT_MS);
  try {
    const spec = await client.getChainSpecData();
    check(spec.genesisHash.length === 66, `connected (${providerName} provider) to ${spec.name}, genesis ${spec.genesisHash}`);

    const blocks = await firstValueFrom(client.finalizedBlock$.pipe(take(3), toArray()));
    check(blocks[1].number === blocks[0].number + 1 && blocks[2].parent === blocks[1].hash,
      `followed finalized blocks #${blocks.map((b) => b.number).join(', #')}`);

    const api = client.getUnsafeApi();
    const versions = await api.apis.Metadata.metadata_versions();
    check(versions.includes(14) && versions.includes(15), `metadata versions ${versions}`);
    const opaque = await api.apis.Metadata.metadata_at_version(15);  // Vec<u8>: a Uint8Array in polkadot-api 2
    const v15 = opaque instanceof Uint8Array ? opaque : opaque.asBytes();
    check(new TextDecoder().decode(v15.slice(0, 4)) === 'meta' && v15[4] === 15, `metadata_at_version(15) is V15 (${v15.length} bytes)`);
    check((await api.apis.Metadata.metadata_at_version(16)) === undefined, 'metadata_at_version(16) is None');
    const version = await api.constants.System.Version();
    check(version.spec_name === 'gradchain', `System.Version: ${version.spec_name} v${version.spec_version}`);
    const weights = await api.constants.System.BlockWeights();
    const length = await api.constants.System.BlockLength();
    const db = await api.constants.System.DbWeight();
    // polkadot-api shows a struct of one field (BlockLength { max }) as that field's value
    check(weights.per_class.normal.max_total.ref_time < weights.max_block.ref_time && length.normal < length.operational
      && db.read === 0n, `System.BlockWeights max ${weights.max_block.ref_time} (normal ${weights.per_class.normal.max_total.ref_time}), `
      + `BlockLength normal ${length.normal} of ${length.operational}, DbWeight read ${db.read}`);

    const keyring = new Keyring({ ss58Format: 42 });
    const aliceSr = keyring.addFromUri('//Alice', {}, 'sr25519');
    const aliceEd = keyring.addFromUri('//Alice', {}, 'ed25519');
    const bobSr = keyring.addFromUri('//Bob', {}, 'sr25519');
    check(aliceSr.address === '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY', `sr25519 //Alice is ${aliceSr.address}`);

    const account = await api.query.System.Account.getValue(aliceSr.address);
    check(account.data.free > AMOUNT * 2n, `sr25519 //Alice holds ${account.data.free}, nonce ${account.nonce}`);
    check(await api.apis.AccountNonceApi.account_nonce(aliceSr.address) === account.nonce, 'AccountNonceApi.account_nonce agrees');
    const nextJob = await api.query.ComputeMarket.NextJobId.getValue();
    check(BigInt(nextJob) >= 0n, `ComputeMarket.NextJobId is ${nextJob}`);

    const bobBefore = (await api.query.System.Account.getValue(bobSr.address)).data.free;
    const watched = [];
    const watching = api.query.System.Account.watchValue(bobSr.address).subscribe(({ value }) => watched.push(value.data.free));

    await transfer(api, signerOf(aliceSr, 'Sr25519'), bobSr.address, 'sr25519');
    await transfer(api, signerOf(aliceEd, 'Ed25519'), bobSr.address, 'ed25519');

    const bobAfter = (await api.query.System.Account.getValue(bobSr.address)).data.free;
    check(bobAfter === bobBefore + 2n * AMOUNT, `sr25519 //Bob received ${bobAfter - bobBefore}`);
    await firstValueFrom(api.query.System.Account.watchValue(bobSr.address).pipe(
      filter(({ value }) => value.data.free === bobAfter)));
    watching.unsubscribe();
    const distinct = watched.filter((v, i) => i === 0 || v !== watched[i - 1]);
    check(distinct[0] === bobBefore && distinct.at(-1) === bobAfter && distinct.every((v, i) => i === 0 || v > distinct[i - 1]),
      `watched //Bob's balance: ${distinct.join(' -> ')}`);
  } finally {
    clearTimeout(timer);
    client.destroy();
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
