"""What members see and press: cards and their buttons, track autocomplete, private
replies, and the gate every interaction passes while the bot stops."""
