// The connection both test scripts open: ed25519-ready crypto, then an ApiPromise on the node's WebSocket.
import { ApiPromise, WsProvider } from '@polkadot/api';
import { cryptoWaitReady } from '@polkadot/util-crypto';

export async function connect(url) {
  await cryptoWaitReady();
  const provider = new WsProvider(url, false);
  await provider.connect();
  const api = await ApiPromise.create({ provider, throwOnConnect: true, noInitWarn: true });
  await api.isReady;
  return api;
}
