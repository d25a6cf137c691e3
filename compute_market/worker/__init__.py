"""Off-chain PyTorch roles of the compute market: models, datasets and exact-mode training.

Workers talk to a node only through its gRPC API and never import the node (docs/design.md, sections 1 and 8).
"""
