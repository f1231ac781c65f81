-- sync_events only grows (the retention purger deletes old rows in batches), and its reads (recent
-- events, by outcome, kind or user) go through indexes whatever the statistics say. The default
-- (re-analyse after 50 rows + 10%) made autovacuum analyse every busy tenant's table every few
-- seconds: with 1,000 organisations receiving lookups, about a tenth of PostgreSQL's CPU per request
-- (scripts/bench). Analyse after 10,000 new rows instead; vacuuming stays at its defaults.
ALTER TABLE sync_events SET (autovacuum_analyze_threshold = 10000);
