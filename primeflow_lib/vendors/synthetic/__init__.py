"""The synthetic vendor: the embedded, seeded, offline default data source.

:mod:`.vendor` (the vendor class), :mod:`.market` (daily and regime paths), :mod:`.intraday`
(1-minute bars inside a session) and :mod:`.options` (chains and option prints).
"""
