"""FRAME in Python: the pallet machinery (declarations, typed storage items, SCALE types, dispatch support)
that runtime.pallets and compute_market.pallet are written in."""
