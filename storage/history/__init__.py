"""Listening histories members bring: Spotify privacy exports, Last.fm scrobbles.

- `parsed`: the shape every source parses into (ParsedPlay, ParsedHistory, HistoryError);
- `spotify_export`: a Spotify export's bytes (.json or .zip), in memory;
- `lastfm`: an async Last.fm API client (recent tracks, top tracks);
- `match`: parsed plays to catalog tracks (Spotify id, else title and main artist);
- `service`: `import_history`, all of it in the caller's one transaction;
- `synthetic`: made-up listening written as Spotify writes it (the simulation, tests).

Parsers never touch the database or the disk; `match` and `service` only read and write
through the session they are given.
"""
