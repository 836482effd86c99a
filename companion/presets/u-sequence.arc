# u-sequence — Music Care's U-sequence: descend over about three quarters of the session
# to a calm trough, pause in silence (2 minutes lowered heart rate and breathing below
# baseline in Bernardi et al., Heart 2006), then rise a little, to about trough + 15 %.
# The curve meets the target at 0.60, before the silence at 0.72: a track is judged at its
# middle, so the track that ends at the silence plays at the target (meeting it at 0.65 left
# that track at 62-64 BPM for a 60 BPM target).
#
# Format (INI): [curve] maps session time (0 = start, 1 = end) to a tempo, written as
# `start`, `target`, a multiple such as `target * 1.15`, or a plain BPM such as `72`.
# Between points the tempo moves by a constant percentage per minute.
# [silence] at = where the pause begins (fraction of the session), seconds = its length
# (0 for none). [ending] fade_out_s = fade-out of the last track in seconds.

[arc]
description = Descend for ~3/4 of the time, 2 minutes of silence at the trough, rise to trough + 15 %

[curve]
0.00 = start
0.60 = target
0.82 = target
0.92 = target * 1.15
1.00 = target * 1.15

[silence]
at = 0.72
seconds = 120
