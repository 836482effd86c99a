"""The playback engine, one module per concept; :mod:`companion.core.player` is its front door.

- :mod:`.ring`      the real-time ring buffer and what the consumer does to each block (fader,
                    volume, underrun count): the only code that runs in the audio callback
- :mod:`.feeder`    the producer thread: renders the session into the ring ahead of the
                    consumer and changes the plan under it (skip, previous, faults, sleep timer)
- :mod:`.levels`    per-track levelling gains: from the library when it knows them, else
                    measured in a background thread
- :mod:`.outputs`   where the consumer's frames go: a file, nowhere (tests), or the sound card
- :mod:`.device`    the sound card: the only module that touches PortAudio (sounddevice)
"""
