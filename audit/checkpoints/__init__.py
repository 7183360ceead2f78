"""Signed checkpoints of the audit chains, exported outside the database, and the pruning they make verifiable.

``models`` records each checkpoint; ``documents`` is the signed JSON a checkpoint file holds; ``files`` writes
them once and reads them back; ``services`` verifies a stretch of a chain and checkpoints it; ``selectors``
resolves the checkpoint a pruned chain is verified from; ``prune`` deletes old events behind a checkpoint;
``offline`` verifies a folder of checkpoint files with the public key alone; ``signer`` is the registry the
encryption app puts its Ed25519 signer in.
"""
