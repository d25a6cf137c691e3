"""Off-chain PyTorch roles of the compute market: models, datasets and exact-mode training.

Workers talk to a node only through its gRPC API and never import the node, the APIs or node-side storage
(docs/architecture.md; import-linter checks it).
"""
