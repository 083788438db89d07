"""Cboe files: DataShop "Option Trades" CSVs (:mod:`.trades`) and delayed-quote chain exports
(:mod:`.quotedata`), served as a vendor from a folder (:mod:`.vendor`)."""
