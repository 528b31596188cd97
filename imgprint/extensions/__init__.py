"""imgprint's Scrapy extensions besides resume: progress and summary, feed watch."""
