"""Databento: the historical API (:mod:`.vendor`) and local DBN files (:mod:`.files`), both
decoded by :mod:`.dbn`."""
