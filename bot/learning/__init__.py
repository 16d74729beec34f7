"""The learning loop: a run (snapshot → train in a worker process → evaluate → promote →
swap), the pure training rules, the worker process and the admin service behind /admin and
`earworm train`/`earworm models`. Never imports discord."""
