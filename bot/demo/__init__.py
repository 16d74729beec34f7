"""`earworm demo`: the set-up (catalog, a listening history from real playlists), the
scripted session in a simulated Discord, and the terminal renderer of what members see."""
