"""Rendering's parts that need no browser: the auto heuristic, settings, Chromium lookup."""

from __future__ import annotations

import pytest
from parsel import Selector

from imgprint.config import ConfigError, check_spider_args
from imgprint.render.browser import FLAGS, check_can_render, find_chromium, launch_options
from imgprint.render.heuristic import render_reason
from tests.test_config import config


@pytest.mark.parametrize("html, reason", [
    ('<img src="a.jpg">' * 20, None),  # no script: nothing can change
    ('<img data-src="a.jpg">' * 20, None),  # the corpus pages: lazy markup, no script
    ("<script>go()</script>", "no_images"),
    ('<img src="a.jpg"><script src="app.js"></script>', "few_images"),
    ('<img data-src="a.jpg">' * 5 + "<script>x()</script>", "lazy_markers"),
    ('<img src="a.jpg">' * 5 + '<script src="/js/lightgallery.min.js"></script>',
     "gallery_script"),
    ('<img src="a.jpg">' * 5 + "<script>new IntersectionObserver(f)</script>",
     "script_images"),
    ('<img src="a.jpg">' * 5 + '<div id="root"></div><script src="b.js"></script>',
     "app_root"),
    ('<img src="a.jpg">' * 5 + '<script type="application/ld+json">{}</script>', None),
    ('<img src="a.jpg">' * 5 + "<script>track()</script>", None),
])
def test_auto_heuristic(html, reason):
    sel = Selector(text=f"<html><body>{html}</body></html>")
    assert render_reason(sel, len(sel.xpath("//img"))) == reason


def test_render_settings_and_argument_are_checked():
    assert config().render == "off"
    assert config(IMGPRINT_RENDER="AUTO").render == "auto"
    with pytest.raises(ConfigError, match="IMGPRINT_RENDER: expected one of off, on, auto"):
        config(IMGPRINT_RENDER="yes")
    with pytest.raises(ConfigError, match="IMGPRINT_RENDER_PAGES: .*at least 1"):
        config(IMGPRINT_RENDER_PAGES="0")
    with pytest.raises(ConfigError, match="IMGPRINT_RENDER_WAIT: expected a number of seconds"):
        config(IMGPRINT_RENDER_WAIT="long")
    assert check_spider_args({"render": "On"}).render == "on"
    assert check_spider_args({}).render is None
    with pytest.raises(ConfigError, match="-a render: expected one of off, on, auto"):
        check_spider_args({"render": "js"})


def test_debian_chromium_is_found_and_flags_kept():
    options = launch_options({"args": ["--lang=fi"]})
    assert options["executable_path"] == find_chromium()
    assert options["args"] == [*FLAGS, "--lang=fi"]
    assert "--host-resolver-rules=MAP *.onion ~NOTFOUND" in FLAGS


def test_missing_chromium_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not an executable.*apt-get install chromium"
                                          ".*do not run `playwright install`"):
        check_can_render({"executable_path": str(tmp_path / "no-chromium")})
