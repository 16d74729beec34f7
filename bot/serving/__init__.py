"""What answers a request: the engine (models in memory, scoring in worker threads), the
active models, the catalog and track lookups, the content and recommend services, charts,
taste, the per-member cooldowns and the feedback writer. Never imports discord: a change
here changes what members get, not how Discord shows it."""
