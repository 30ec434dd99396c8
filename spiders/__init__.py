"""Scrapy spiders of linkhealth."""
