# step-down — the iso principle: meet the listener at the start tempo, then step down
# gradually to the target tempo, holding there for the last part of the session.
#
# Format (INI): [curve] maps session time (0 = start, 1 = end) to a tempo, written as
# `start`, `target`, a multiple such as `target * 1.15`, or a plain BPM such as `72`.
# Between points the tempo moves by a constant percentage per minute.
# Optional sections: [silence] at = FRACTION, seconds = S;  [ending] fade_out_s = S.
# Copy this file to your presets folder (see `companion build --help`) to make your own.

[arc]
description = Step down from the start tempo to the target, then hold at the target

[curve]
0.00 = start
0.90 = target
1.00 = target
