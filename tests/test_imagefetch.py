"""ImageFetchMiddleware in-process: ranges, the byte cut-off, answer checks, and no
state left on a request for its retry to inherit."""

from __future__ import annotations

import asyncio
import gzip

import pytest
from scrapy import Request
from scrapy.exceptions import StopDownload
from scrapy.http import Headers, Response

from imgprint.fetch.protocol import IMAGE_KEY, SNIFF_KEY, ImageResponse
from imgprint.middlewares.imagefetch import ImageFetchMiddleware
from imgprint.middlewares.retry import BackoffRetryMiddleware
from imgprint.scheduler import NOT_BEFORE_KEY
from imgprint.spiders.images import ImagesSpider
from tests.helpers import EX, project_crawler

IMAGE = (EX / "jpg" / "Canon_PowerShot_S40.jpg").read_bytes()
URL = "http://images.example/a.jpg"


def middleware(**settings) -> ImageFetchMiddleware:
    crawler = project_crawler(ImagesSpider, IMGPRINT_FOLLOWUPS=0, **settings)
    return ImageFetchMiddleware.from_crawler(crawler)


def image_request(**meta) -> Request:
    return Request(URL, meta={IMAGE_KEY: True, **meta})


def partial(request: Request, body: bytes = IMAGE[:10241], **headers) -> Response:
    return Response(URL, status=206, body=body, request=request, headers={
        "Content-Type": "image/jpeg",
        "Content-Range": f"bytes 0-{len(body) - 1}/{len(IMAGE)}", **headers})


def answer(mw: ImageFetchMiddleware, request: Request, response: Response):
    return asyncio.run(mw.process_response(request, response))


def test_image_requests_ask_for_the_first_bytes_unencoded():
    mw = middleware()
    request = image_request()
    mw.process_request(request)
    assert request.headers[b"Range"] == b"bytes=0-10240"
    assert request.headers[b"Accept-Encoding"] == b"identity"
    page = Request("http://images.example/", meta={SNIFF_KEY: True})
    mw.process_request(page)
    assert b"Range" not in page.headers


def test_a_206_becomes_an_image_response_with_the_bytes_in_spans():
    mw = middleware()
    request = image_request()
    mw.process_request(request)
    out = answer(mw, request, partial(request))
    assert isinstance(out, ImageResponse) and out.body == b""
    assert out.image.size == len(IMAGE) and out.image.error is None
    assert out.image.spans.get(0, 10241) == IMAGE[:10241]
    assert out.replace(url=URL + "?x").image is out.image  # replace() keeps it


def test_a_retry_does_not_inherit_what_an_error_answer_said():
    """Issue 11, bug 3: a gzip-encoded 503, retried, then a clean 206."""
    mw = middleware()
    request = image_request(handle_httpstatus_list=list(range(400, 600)))
    mw.process_request(request)
    busy = Response(URL, status=503, request=request, body=gzip.compress(b"busy"),
                    headers={"Content-Encoding": "gzip", "Content-Type": "text/html"})
    assert answer(mw, request, busy) is busy  # left for RetryMiddleware
    crawler = mw.crawler
    crawler.spider = ImagesSpider.from_crawler(crawler)
    retry = BackoffRetryMiddleware.from_crawler(crawler).process_response(request, busy)
    assert isinstance(retry, Request)
    assert set(retry.meta) - set(request.meta) == {"retry_times", NOT_BEFORE_KEY}
    out = answer(mw, retry, partial(retry))
    assert isinstance(out, ImageResponse) and out.image.error is None, out.image


def test_a_content_encoded_image_is_an_error_and_not_decoded_further_on():
    mw = middleware()
    request = image_request()
    mw.process_request(request)
    out = answer(mw, request, partial(request, **{"Content-Encoding": "gzip"}))
    assert "Content-Encoding gzip" in out.image.error and out.image.spans is None
    assert b"Content-Encoding" not in out.headers


@pytest.mark.parametrize("body, content_range, words", [
    (b"<!DOCTYPE html><html>login</html>", None, "HTML page"),
    (IMAGE[100:10341], "bytes 100-10340/32764", "not from byte 0"),
])
def test_answers_that_are_not_the_file(body, content_range, words):
    mw = middleware()
    request = image_request()
    mw.process_request(request)
    response = partial(request, body=body)
    if content_range:
        response.headers["Content-Range"] = content_range
    assert words in answer(mw, request, response).image.error


def test_small_images_keep_their_bytes_for_metadata():
    # Under IMGPRINT_MIN_SIZE: no fingerprint, but the metadata is read.
    mw = middleware(IMGPRINT_MIN_SIZE=len(IMAGE) + 1)
    request = image_request()
    mw.process_request(request)
    image = answer(mw, request, partial(request)).image
    assert image.small and image.size == len(IMAGE)
    assert image.spans is not None and image.spans.get(0, 100) == IMAGE[:100]


def test_a_whole_file_answer_is_cut_at_the_end_of_the_range():
    mw = middleware()
    request = image_request()
    mw.process_request(request)
    mw.headers_received(Headers({"Content-Type": "image/jpeg"}), len(IMAGE), request, None)
    mw.bytes_received(IMAGE[:8192], request, None)
    with pytest.raises(StopDownload):
        mw.bytes_received(IMAGE[8192:16384], request, None)
    followup = Request(URL, headers={"Range": "bytes=20000-29999"}, meta={IMAGE_KEY: True})
    mw.headers_received(Headers({"Content-Type": "image/jpeg"}), len(IMAGE), followup, None)
    mw.bytes_received(IMAGE[:24000], followup, None)  # a 200: from byte 0, up to 30,000
    with pytest.raises(StopDownload):
        mw.bytes_received(IMAGE[24000:32000], followup, None)


def test_a_seed_is_only_cut_once_it_turns_out_to_be_an_image():
    mw = middleware()
    page = Request("http://images.example/", meta={SNIFF_KEY: True})
    mw.headers_received(Headers({"Content-Type": "text/html"}), 50000, page, None)
    mw.bytes_received(b"x" * 20000, page, None)  # a page: read to the end
    seed = Request(URL, meta={SNIFF_KEY: True})
    mw.headers_received(Headers({"Content-Type": "image/jpeg"}), len(IMAGE), seed, None)
    with pytest.raises(StopDownload):
        mw.bytes_received(IMAGE[:16384], seed, None)
