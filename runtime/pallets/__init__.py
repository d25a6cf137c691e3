"""The pallets of the gradchain runtime; `runtime.composition` lists them with their indices."""
