"""Local stand-ins for the outside services Earworm talks to, so tests never leave the machine."""
