"""Substrate's JSON-RPC API over a gradchain node, one module per namespace (system, chain, state, author).

`chain.api.substrate_rpc.start_substrate_rpc` registers them all on a `JsonRpcServer`. Parameters are parsed
once, at the edge, by `params`; handlers then work with bytes and ints and answer in Substrate's JSON shapes.
"""
