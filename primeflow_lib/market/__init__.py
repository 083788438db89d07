"""Market data in the warehouse: the bars cache (:mod:`.cache`), fetching any symbol into it
(:mod:`.fetch`), the daily history the research side reads (:mod:`.daily_history`) and the
data-quality rules and stored-partition checks for market tables (:mod:`.quality`)."""
