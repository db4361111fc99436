"""qcat: nightly snapshots and history of Quantized gateway model catalogs."""

__version__ = "0.1.0"
