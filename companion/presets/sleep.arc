# sleep — descend to the target and stay there: no rise at the end, and the last track
# fades out slowly so the session ends in quiet.
#
# Format (INI): [curve] maps session time (0 = start, 1 = end) to a tempo, written as
# `start`, `target`, a multiple such as `target * 1.15`, or a plain BPM such as `72`.
# Between points the tempo moves by a constant percentage per minute.
# Optional sections: [silence] at = FRACTION, seconds = S;  [ending] fade_out_s = S.

[arc]
description = Descend and end at the target with no rise; the last track fades out

[curve]
0.00 = start
0.85 = target
1.00 = target

[ending]
fade_out_s = 60
