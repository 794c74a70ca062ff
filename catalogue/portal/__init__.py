"""Application services of the portal: access checks, lookups, deciders, appends, reads."""
