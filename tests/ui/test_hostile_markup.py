"""Rich/Textual markup in tags and names is shown as text: the app starts and every screen draws."""

from __future__ import annotations

from dataclasses import replace

from companion.core.models import AnalysisResult, Loudness, Rating, Tags, TempoEstimate
from companion.core.player import NullOutput
from companion.core.store import Store
from companion.tui.app import make_app
from tests.records import record
from tests.ui.conftest import add_library, save_playlist

MARKUP = (("[/b]", "[/]"), ("[bold red]x", "[/b] [link=x]y"), ("plain \\[", "[/]"))


def _retag(store: Store, entries):
    """The library's tracks and the playlist's entries with markup as titles and artists."""
    results = []
    for e, (title, artist) in zip(entries, MARKUP, strict=True):
        results.append(AnalysisResult(path=e.path, size=1, mtime=1.0,
                                      tags=Tags(title, artist, "[/]", "", e.duration_s),
                                      tempo=TempoEstimate(e.bpm, 0.9), loudness=Loudness(-24.0, -12.0)))
    store.save_analysis(results)
    return [replace(e, title=t, artist=a) for e, (t, a) in zip(entries, MARKUP, strict=True)]


async def test_markup_in_titles_artists_and_names_does_not_stop_the_app(store: Store, tmp_path) -> None:
    entries = _retag(store, add_library(store, tmp_path / "music"))
    save_playlist("evening", entries)
    sid = record(store, playlist="[/] [bold]x", arc="[/b]", before=[Rating("stress", "before", 6.0)],
                 minutes=1).id
    store.add_ratings(sid, [Rating("note", "after", None, text="[/b] [/]")])
    app = make_app(store=store, output_factory=lambda *a, **k: NullOutput(), auto_demo=False)
    async with app.run_test(size=(120, 36)) as pilot:
        for key in ("l", "h", "p"):
            await pilot.press(key)
            await pilot.pause(0.2)
        assert app.is_running
    assert app.return_code in (None, 0)
