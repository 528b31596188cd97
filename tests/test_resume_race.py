"""The resume double-record race (issue 12, finding 16): a resumed page that is
fast on resume referenced an image that was pending from the earlier run; the
page was parsed before the resumed images entered the pending map, so the image
was requested twice and got two full records (one with ``pages: []``)."""

from __future__ import annotations

from scrapy.statscollectors import MemoryStatsCollector

from imgprint.fetch.protocol import FetchedImage, ImageResponse
from imgprint.resume import ResumeState
from imgprint.spiders.images import ImagesSpider
from tests.helpers import project_crawler

PAGE, OLD_PAGE, IMAGE = "http://s.test/p2", "http://s.test/p1", "http://s.test/i.jpg"


def resumed_spider() -> ImagesSpider:
    crawler = project_crawler(ImagesSpider)
    crawler.stats = MemoryStatsCollector(crawler)
    spider = ImagesSpider.from_crawler(crawler, url="http://s.test/")
    spider.crawl_state.set_resume(ResumeState(pages={OLD_PAGE: 0, PAGE: 1}, pending_pages={PAGE: 1},
                                        pending_images={IMAGE: [OLD_PAGE]}))
    return spider


def test_a_resumed_page_parsed_first_does_not_request_a_pending_image_again():
    spider = resumed_spider()
    requests = spider.resumed_requests()
    first = next(requests)
    assert first.url == PAGE
    # The engine parses the page before the generator goes on.
    assert list(spider.image_requests([IMAGE], PAGE)) == []
    rest = list(requests)
    assert [r.url for r in rest] == [IMAGE]
    assert spider.crawl_state.frontier.pending[IMAGE] == [OLD_PAGE, PAGE]  # type: ignore[attr-defined]


def test_a_page_after_the_resumed_record_gets_a_sighting():
    spider = resumed_spider()
    sightings = []
    spider.crawl_state.emit_late = sightings.append  # type: ignore[method-assign]
    (image_request,) = [r for r in spider.resumed_requests() if r.url == IMAGE]
    assert image_request.dont_filter  # the dupefilter will not remember it
    answer = ImageResponse(url=IMAGE, status=206, body=b"", request=image_request,
                           image=FetchedImage(url=IMAGE, status=206))
    assert spider.image_record(answer).pages == [OLD_PAGE]
    assert list(spider.image_requests([IMAGE], "http://s.test/p3")) == []
    assert [s.url for s in sightings] == [IMAGE] and sightings[0].seen_before
