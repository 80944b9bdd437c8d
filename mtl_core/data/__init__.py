"""Data at rest: contracts, the lake, partitions, quarantine, paths, temporary-folder owners, model folders."""
