-- The non-Equals IOC quota (SPEC A.7) is checked on every write that adds such an IOC by
-- counting them. Without this partial index the count scanned the whole indicators table
-- (1.4 s at 1M IOCs); with it, it reads only the non-Equals entries of the tenant.
CREATE INDEX indicators_non_equals ON indicators(tenant_id) WHERE detection_function <> 'Equals';
