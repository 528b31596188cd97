"""imgprint's own signals: what the spider discovers, for extensions to follow.

The spider sends them; ``imgprint.resume`` journals them so a killed crawl can
resume. Handlers take the keyword arguments named below (plus ``spider``).

* ``page_scheduled(url, depth)``: a page request was made (not for pages
  re-requested from an earlier run's journal).
* ``page_finished(url)``: a page was parsed to the end, failed, or was
  dropped; its images and links have all been signalled.
* ``image_found(url, page)``: ``page`` references image ``url`` (sent once per
  image and page, while the image is not yet recorded).
* ``resume_requested()``: sent once when the spider starts; a handler returns
  a ``imgprint.resume.ResumeState`` (what earlier runs of the job left to do),
  or None.
"""

page_scheduled = object()
page_finished = object()
image_found = object()
resume_requested = object()
