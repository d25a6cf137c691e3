"""Substrate's JSON-RPC API over a gradchain node, one module per namespace: the legacy system, chain, state,
author and payment, and the new spec's chain_head (chainHead_v1), spec_v1 (chainSpec_v1, transaction_v1,
transactionWatch_v1) and archive (archive_v1), whose storage queries share storage_query.

`chain.api.substrate_rpc.start_substrate_rpc` registers them all on a `JsonRpcServer`. Parameters are parsed
once, at the edge, by `params`; handlers then work with bytes and ints and answer in Substrate's JSON shapes.
"""
